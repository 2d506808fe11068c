import functools
import math

import pytest
import torch
import torch.nn.functional as F

from denselora import DenseLoRAConfig, apply_denselora
from denselora.methods.denselora import fused as fused_module
from denselora.methods.denselora.dropout_masks import draw_seed, drop_masks
from denselora.methods.denselora.functional import denselora_delta
from denselora.methods.denselora.fused import fused_denselora_linear
from denselora.methods.denselora.options import UpdateOptions
from tests.conftest import LLAMA_TARGETS, build_tiny_llama, randomize_adapters

K, D, R = 24, 40, 4


def _tensors(dtype=torch.float64, bias=True, seed=0):
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return (torch.randn(*shape, generator=generator, dtype=torch.float64) / math.sqrt(shape[-1])).to(dtype)

    x = randn(3, 5, K).requires_grad_()
    weight = randn(D, K)
    b = randn(D) if bias else None
    encoder, M, decoder = randn(R, K).requires_grad_(), randn(R, R).requires_grad_(), randn(D, R).requires_grad_()
    return x, weight, b, encoder, M, decoder


def _grads(out, tensors, seed=1):
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    return torch.autograd.grad(out, tensors, grad_out)


@pytest.mark.parametrize("activation", ["gelu", "identity"])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_the_autograd_reference_in_float64(activation, bias):
    x, weight, b, encoder, M, decoder = _tensors(bias=bias)
    trained = (x, encoder, M, decoder)
    fused = fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, activation=activation))
    reference = F.linear(x, weight, b) + denselora_delta(
        x, encoder, M, decoder, UpdateOptions(scale=2.0, activation=activation)
    )
    torch.testing.assert_close(fused, reference, rtol=0, atol=1e-13)
    for got, expected in zip(_grads(fused, trained), _grads(reference, trained), strict=True):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-13)


@pytest.fixture(params=["positions", "dense"])
def layout(request, monkeypatch):
    """Each mask layout in turn: a CPU draws positions; the dense masks a GPU draws are forced to check them here."""
    monkeypatch.setattr(fused_module, "drop_masks", functools.partial(drop_masks, layout=request.param))
    return request.param


def _explicit_dropout_reference(x, weight, b, encoder, M, decoder, scale, p, sites, seed, layout=None):
    """The update written out with the masks that ``seed`` stands for (float64 autograd ops)."""
    act = F.gelu
    rows = x.reshape(-1, K)
    n = rows.shape[0]
    masks = drop_masks(seed, [(n, K), (n, R), (n, D)][: len(sites)], p, rows.device, layout)

    def drop(t, site):
        if site not in sites:
            return t
        return torch.where(masks[site].dense(), 0.0, t) * masks[site].scale

    u = drop(act(F.linear(F.linear(drop(act(F.linear(drop(rows, 0), encoder)), 1), M), decoder)), 2)
    return (F.linear(rows, weight, b) + scale * u).view(*x.shape[:-1], D)


@pytest.mark.parametrize("dropout_sites, sites", [("all", (0, 1, 2)), ("input", (0,))])
def test_dropout_uses_and_regenerates_the_masks_of_its_seed(dropout_sites, sites, layout):
    x, weight, b, encoder, M, decoder = _tensors()
    trained = (x, encoder, M, decoder)
    torch.manual_seed(5)
    options = UpdateOptions(scale=2.0, dropout=0.3, dropout_sites=dropout_sites)
    fused = fused_denselora_linear(x, weight, b, encoder, M, decoder, options, training=True)
    torch.manual_seed(5)
    seed = draw_seed()
    expected = _explicit_dropout_reference(x, weight, b, encoder, M, decoder, 2.0, 0.3, sites, seed, layout)
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-13)
    # Backward regenerates the forward's masks: gradients agree with the explicit masks' autograd.
    for got, want in zip(_grads(fused, trained), _grads(expected, trained), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-13)
    assert not torch.equal(fused, fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0)))


def test_gradcheck_with_dropout():
    x, weight, b, encoder, M, decoder = _tensors()

    def layer(x, encoder, M, decoder):
        torch.manual_seed(3)
        return fused_denselora_linear(
            x, weight, b, encoder, M, decoder, UpdateOptions(scale=1.5, dropout=0.4), training=True
        )

    assert torch.autograd.gradcheck(layer, (x, encoder, M, decoder))


def _saved(run):
    saved = []

    def pack(t):
        saved.append((tuple(t.shape), t.dtype))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run()
    return saved


def test_backward_keeps_only_r_wide_activations(layout):
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    rows = x.reshape(-1, K)
    params = {tuple(t.shape) for t in (weight, encoder, M, decoder)}

    def fused():
        fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.1), training=True)

    def reference():
        F.linear(x, weight, b) + denselora_delta(
            x, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.1), training=True
        )

    saved = [(shape, dtype) for shape, dtype in _saved(fused) if shape not in params and shape != tuple(rows.shape)]
    activations = [shape for shape, dtype in saved if dtype.is_floating_point]
    assert activations and all(shape == (rows.shape[0], R) for shape in activations), activations
    # A CPU's masks are kept as the positions of the dropped entries (one list per site); dense ones are not.
    positions = [shape for shape, dtype in saved if dtype == torch.int64]
    assert len(saved) == len(activations) + len(positions)
    if layout == "positions":
        assert len(positions) == 3 and all(len(shape) == 1 for shape in positions)
        assert sum(shape[0] for shape in positions) < 0.2 * rows.shape[0] * (K + R + D)
    else:
        assert not positions
    # The plain autograd ops keep d-wide tensors; the check above would see them.
    assert any(shape[-1] == D for shape, _ in _saved(reference) if shape not in params)


def test_zero_decoder_gives_the_base_output_bit_for_bit_even_with_dropout():
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    with torch.no_grad():
        decoder.zero_()
    out = fused_denselora_linear(
        x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.5), training=True
    )
    assert torch.equal(out, F.linear(x, weight, b))


def test_inference_path_equals_the_autograd_path():
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    with_graph = fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
    with torch.no_grad():
        without = fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
    assert with_graph.grad_fn is not None and without.grad_fn is None
    assert torch.equal(with_graph, without)


def test_mixed_dtypes_compute_in_the_adapter_dtype():
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    x16 = x.detach().bfloat16().requires_grad_()
    out = fused_denselora_linear(x16, weight.bfloat16(), b.bfloat16(), encoder, M, decoder, UpdateOptions(scale=2.0))
    reference = (
        F.linear(x16, weight.bfloat16(), b.bfloat16())
        + denselora_delta(x16, encoder, M, decoder, UpdateOptions(scale=2.0)).bfloat16()
    )
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, reference, rtol=1e-2, atol=1e-2)
    grads = _grads(out.float(), (x16, encoder, M, decoder))
    assert grads[0].dtype == torch.bfloat16 and all(g.dtype == torch.float32 for g in grads[1:])


def test_mixed_dtypes_with_dropout_use_the_masks_of_their_seed(layout):
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    x16, weight16, b16 = x.detach().bfloat16().requires_grad_(), weight.bfloat16(), b.bfloat16()
    torch.manual_seed(4)
    out = fused_denselora_linear(
        x16, weight16, b16, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.3), training=True
    )
    torch.manual_seed(4)
    seed = draw_seed()
    expected = _explicit_dropout_reference(
        x16.float(), weight16.float(), b16.float(), encoder, M, decoder, 2.0, 0.3, (0, 1, 2), seed, layout
    )
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=2e-2)
    trained = (x16, encoder, M, decoder)
    for got, want in zip(_grads(out.float(), trained), _grads(expected, trained), strict=True):
        assert got.dtype == want.dtype
        # bfloat16 rounding of the output gradient; a wrong mask would move a third of the entries by O(1).
        torch.testing.assert_close(got.float(), want.float(), rtol=2e-2, atol=6e-2)


def test_autocast_computes_in_the_autocast_dtype_and_trains_float32_parameters():
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
        reference = F.linear(x, weight, b) + denselora_delta(x, encoder, M, decoder, UpdateOptions(scale=2.0))
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, reference.to(out.dtype), rtol=2e-2, atol=2e-2)
    grads = _grads(out.float(), (encoder, M, decoder))
    expected = _grads(reference.float(), (encoder, M, decoder))
    for got, want in zip(grads, expected, strict=True):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, want, rtol=5e-2, atol=5e-2)


def test_refuses_a_trainable_base_weight():
    x, weight, b, encoder, M, decoder = _tensors()
    with pytest.raises(ValueError, match="frozen base"):
        fused_denselora_linear(x, weight.requires_grad_(), b, encoder, M, decoder, UpdateOptions(scale=1.0))


def _loss_and_grads(config, input_ids, checkpointing=False):
    model = apply_denselora(build_tiny_llama(seed=0, dtype=torch.float64), config).train()
    randomize_adapters(model)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    torch.manual_seed(9)
    loss = model(input_ids=input_ids, labels=input_ids).loss
    loss.backward()
    return loss, {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_a_fused_model_trains_like_the_reference_model(input_ids, checkpointing):
    """Whole LLaMA, float64, no dropout: the same loss and gradients, with activation checkpointing too."""
    fused = _loss_and_grads(DenseLoRAConfig(r=4, dropout=0.0, target_modules=LLAMA_TARGETS), input_ids, checkpointing)
    plain = _loss_and_grads(DenseLoRAConfig(r=4, dropout=0.0, target_modules=LLAMA_TARGETS, fused=False), input_ids)
    torch.testing.assert_close(fused[0], plain[0], rtol=0, atol=1e-12)
    assert fused[1].keys() == plain[1].keys()
    for name, grad in fused[1].items():
        torch.testing.assert_close(grad, plain[1][name], rtol=0, atol=1e-12, msg=name)


def test_activation_checkpointing_recomputes_the_same_dropout(input_ids):
    config = DenseLoRAConfig(r=4, dropout=0.3, target_modules=LLAMA_TARGETS)
    plain = _loss_and_grads(config, input_ids)
    checkpointed = _loss_and_grads(config, input_ids, checkpointing=True)
    torch.testing.assert_close(checkpointed[0], plain[0], rtol=0, atol=1e-12)
    for name, grad in checkpointed[1].items():
        torch.testing.assert_close(grad, plain[1][name], rtol=0, atol=1e-12, msg=name)


def test_frozen_pairs_and_an_input_without_gradient_still_train_M():
    x, weight, b, encoder, M, decoder = _tensors()
    x, encoder, decoder = x.detach(), encoder.detach(), decoder.detach()
    torch.manual_seed(2)
    fused = fused_denselora_linear(
        x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.2), training=True
    )
    torch.manual_seed(2)
    expected = _explicit_dropout_reference(x, weight, b, encoder, M, decoder, 2.0, 0.2, (0, 1, 2), draw_seed())
    torch.testing.assert_close(_grads(fused, (M,))[0], _grads(expected, (M,))[0], rtol=0, atol=1e-13)


def test_frozen_pairs_keep_no_input_and_still_pass_its_gradient(layout):
    x, weight, b, encoder, M, decoder = _tensors()
    encoder, decoder = encoder.detach(), decoder.detach()

    def fused():
        return fused_denselora_linear(
            x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.2), training=True
        )

    torch.manual_seed(6)
    saved = _saved(fused)
    # "Freeze": nothing k-wide is kept, since only the encoder's gradient would read the input.
    assert tuple(x.reshape(-1, K).shape) not in {shape for shape, _ in saved}, saved
    torch.manual_seed(6)
    out = fused()
    torch.manual_seed(6)
    expected = _explicit_dropout_reference(x, weight, b, encoder, M, decoder, 2.0, 0.2, (0, 1, 2), draw_seed(), layout)
    for got, want in zip(_grads(out, (x, M)), _grads(expected, (x, M)), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-13)


@pytest.fixture
def inductor_headers_in_the_scratch_cache(monkeypatch):
    """torch 2.13 puts inductor's precompiled headers (150 MB) under the system temp folder whatever
    TORCHINDUCTOR_CACHE_DIR says; keep them in the test run's scratch cache with everything else."""
    import os

    from torch._inductor import codecache

    headers = os.path.join(os.environ["TORCHINDUCTOR_CACHE_DIR"], "precompiled_headers")
    monkeypatch.setattr(codecache, "_HEADER_DIR", headers, raising=False)
    monkeypatch.setattr(codecache, "_HEADER_LOCK_DIR", os.path.join(headers, "locks"), raising=False)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
@pytest.mark.usefixtures("inductor_headers_in_the_scratch_cache")
def test_torch_compile_gives_the_eager_result(dropout):
    # Inductor once silently dropped the update's scale here (see fused.py); no bias and 3-d inputs as in LLaMA.
    from torch._inductor import config as inductor_config

    x, weight, _, encoder, M, decoder = _tensors(dtype=torch.float32)
    trained = (x, encoder, M, decoder)

    def layer(x, encoder, M, decoder):
        return fused_denselora_linear(
            x, weight, None, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=dropout), training=True
        )

    torch._dynamo.reset()
    torch.manual_seed(3)
    eager = layer(*trained)
    with inductor_config.patch(fallback_random=True):  # the eager random numbers, so the same dropout seeds
        torch.manual_seed(3)
        compiled = torch.compile(layer)(*trained)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)
    for got, want in zip(_grads(compiled, trained), _grads(eager, trained), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_the_triton_kernel_without_triton_says_how_to_install_it(monkeypatch):
    import sys

    from denselora.methods import denselora as package

    monkeypatch.setitem(sys.modules, "triton", None)  # what `import triton` finds when it is not installed
    monkeypatch.delitem(sys.modules, "denselora.methods.denselora.triton_kernels", raising=False)
    monkeypatch.delattr(package, "triton_kernels", raising=False)  # as if never imported
    x, weight, b, encoder, M, decoder = _tensors()
    # The torch kernel needs no Triton; the Triton one names the extra that installs it.
    fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
    with pytest.raises(RuntimeError, match=r"pip install -e \.\[triton\]"):
        fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0), kernel="triton")


def test_refuses_an_unknown_kernel():
    x, weight, b, encoder, M, decoder = _tensors()
    with pytest.raises(ValueError, match="unknown kernel 'cuda'"):
        fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0), kernel="cuda")
