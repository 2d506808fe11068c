"""The GPU paths: the fused layer, its dense dropout masks drawn by CUDA's generator, bfloat16 and autocast.

Skipped on a machine without a GPU. The CPU suite runs the same code with the dense mask layout forced on
(``tests/methods/denselora/test_fused.py``); these tests add what only a GPU has: CUDA's own random generator, its
kernels and its autocast.
"""

import pytest
import torch
import torch.nn.functional as F

from denselora import DenseLoRAConfig, apply_denselora, get_adapter_params
from denselora.methods.denselora.dropout_masks import draw_seed, drop_masks
from denselora.methods.denselora.functional import denselora_delta
from denselora.methods.denselora.fused import fused_denselora_linear
from denselora.methods.denselora.options import UpdateOptions
from tests.conftest import LLAMA_TARGETS, build_tiny_llama, randomize_adapters
from tests.methods.denselora.test_fused import D, K, R, _explicit_dropout_reference, _grads, _tensors

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    pytest.mark.usefixtures("full_float32_products"),
]

CUDA = torch.device("cuda")


def _on(device, dtype, tensors):
    return [None if t is None else t.detach().to(device, dtype).requires_grad_(t.requires_grad) for t in tensors]


def test_float32_on_cuda_matches_float64_on_the_cpu():
    reference_tensors = _tensors()
    x, weight, b, encoder, M, decoder = reference_tensors
    expected = F.linear(x, weight, b) + denselora_delta(x, encoder, M, decoder, UpdateOptions(scale=2.0))
    expected_grads = _grads(expected, (x, encoder, M, decoder))

    x, weight, b, encoder, M, decoder = _on(CUDA, torch.float32, reference_tensors)
    got = fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
    grad_out = torch.randn(got.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    got_grads = torch.autograd.grad(got, (x, encoder, M, decoder), grad_out.to(CUDA, torch.float32))
    torch.testing.assert_close(got.cpu().double(), expected, rtol=1e-5, atol=1e-6)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g.cpu().double(), e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dropout_sites, sites", [("all", (0, 1, 2)), ("input", (0,))])
def test_dropout_on_cuda_uses_and_regenerates_the_masks_of_its_seed(dropout_sites, sites):
    tensors = _on(CUDA, torch.float64, _tensors())
    x, weight, b, encoder, M, decoder = tensors
    trained = (x, encoder, M, decoder)
    torch.manual_seed(5)
    options = UpdateOptions(scale=2.0, dropout=0.3, dropout_sites=dropout_sites)
    fused = fused_denselora_linear(x, weight, b, encoder, M, decoder, options, training=True)
    torch.manual_seed(5)
    seed = draw_seed()
    expected = _explicit_dropout_reference(x, weight, b, encoder, M, decoder, 2.0, 0.3, sites, seed)
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-12)
    grad_out = torch.randn(fused.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(CUDA)
    got = torch.autograd.grad(fused, trained, grad_out)
    want = torch.autograd.grad(expected, trained, grad_out)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


def test_cuda_masks_are_dense_reproducible_and_drop_at_rate_p():
    shapes = [(4096, K), (4096, R), (4096, D)]
    first = drop_masks(123, shapes, 0.3, CUDA)
    again = drop_masks(123, shapes, 0.3, "cuda")  # no index: the current device, the same generator
    other = drop_masks(124, shapes, 0.3, CUDA)
    for mask, same, different, shape in zip(first, again, other, shapes, strict=True):
        dense = mask.dense()
        assert dense.is_cuda and dense.shape == shape
        assert torch.equal(dense, same.dense()) and not torch.equal(dense, different.dense())
        # 4096 x 4 entries at least: the rate is within 0.02 of p at more than five standard deviations.
        assert abs(dense.float().mean().item() - 0.3) < 0.02
        assert mask.scale == 2**16 / (2**16 - round(0.3 * 2**16))  # 1 / (1 - p) for p at 16 bits


def test_autocast_on_cuda_computes_in_bfloat16_and_trains_float32_parameters():
    x, weight, b, encoder, M, decoder = _on(CUDA, torch.float32, _tensors())
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
    reference = F.linear(x, weight, b) + denselora_delta(x, encoder, M, decoder, UpdateOptions(scale=2.0))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), reference, rtol=2e-2, atol=2e-2)
    grads = torch.autograd.grad(out.float().square().sum(), (encoder, M, decoder))
    expected = torch.autograd.grad(reference.square().sum(), (encoder, M, decoder))
    for got, want in zip(grads, expected, strict=True):
        assert got.dtype == torch.float32
        assert F.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.999


@pytest.mark.parametrize("adapter_dtype", ["float32", "bfloat16"])
def test_a_bfloat16_model_on_cuda_trains_like_its_float64_self(adapter_dtype):
    """A whole adapted LLaMA: bfloat16 base on the GPU against the same weights in float64 on the CPU."""
    input_ids = torch.randint(0, 128, (4, 24), generator=torch.Generator().manual_seed(1))
    config = DenseLoRAConfig(r=4, dropout=0.0, target_modules=LLAMA_TARGETS, dtype=adapter_dtype)
    results = []
    for device, dtype in ((CUDA, torch.bfloat16), (torch.device("cpu"), torch.float64)):
        model = apply_denselora(build_tiny_llama(seed=0, dtype=dtype), config)
        randomize_adapters(model)
        model.to(device).train()
        loss = model(input_ids=input_ids.to(device), labels=input_ids.to(device)).loss
        loss.backward()
        grads = {name: param.grad.double().cpu().flatten() for name, param in get_adapter_params(model).items()}
        results.append((loss.item(), grads))
    (loss16, grads16), (loss64, grads64) = results
    assert loss16 == pytest.approx(loss64, rel=2e-2)
    assert grads16.keys() == grads64.keys()
    for name, grad in grads64.items():
        assert F.cosine_similarity(grads16[name], grad, dim=0) > 0.98, name
