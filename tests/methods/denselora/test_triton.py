"""The fused layer's Triton kernels, against the float64 reference, with their dropout masks drawn from a seed.

On a GPU where there is one; without, on the CPU in Triton's interpreter: ``tests/conftest.py`` sets
``TRITON_INTERPRET=1`` before anything imports Triton. Skipped where Triton is not installed
(``pip install -e .[triton]``).
"""

import contextlib
import functools
import math
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")

from denselora import DenseLoRAConfig, apply_denselora
from denselora.methods.denselora import fused as fused_module
from denselora.methods.denselora import triton_kernels
from denselora.methods.denselora.dropout_masks import draw_seed, drop_masks
from denselora.methods.denselora.functional import denselora_delta
from denselora.methods.denselora.fused import fused_denselora_linear
from denselora.methods.denselora.inject import adapted_layers
from denselora.methods.denselora.options import UpdateOptions
from denselora.methods.denselora.triton_kernels import Dropout
from tests.conftest import LLAMA_TARGETS, build_tiny_llama, randomize_adapters
from tests.methods.denselora.reference import reference_output
from tests.methods.denselora.test_fused import (
    D,
    K,
    R,
    _saved,
    inductor_headers_in_the_scratch_cache,  # noqa: F401 (a fixture)
)
from tests.methods.denselora.test_fused import _tensors as _cpu_tensors

pytestmark = [
    pytest.mark.skipif(
        not torch.cuda.is_available() and not triton_kernels.interpreting(),
        reason="no GPU, and Triton was imported before TRITON_INTERPRET=1 was set",
    ),
    pytest.mark.usefixtures("full_float32_products"),
]

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _tensors(dtype=torch.float64, bias=True):
    """``test_fused``'s tensors, on the device the kernels run on."""
    return [
        None if t is None else t.detach().to(DEVICE, dtype).requires_grad_(t.requires_grad)
        for t in _cpu_tensors(bias=bias)
    ]


def _grads(out, tensors, seed=1):
    """Gradients for a random output gradient, the same values whatever the output's dtype and device."""
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return torch.autograd.grad(out, tensors, grad_out.to(out.device, out.dtype))


def _triton(x, weight, b, encoder, M, decoder, options, training=False):
    return fused_denselora_linear(x, weight, b, encoder, M, decoder, options, training=training, kernel="triton")


@pytest.mark.parametrize("activation", ["gelu", "identity"])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_the_autograd_reference_in_float64(activation, bias):
    x, weight, b, encoder, M, decoder = _tensors(bias=bias)
    trained = (x, encoder, M, decoder)
    options = UpdateOptions(scale=2.0, activation=activation)
    got = _triton(x, weight, b, encoder, M, decoder, options)
    reference = F.linear(x, weight, b) + denselora_delta(x, encoder, M, decoder, options)
    torch.testing.assert_close(got, reference, rtol=0, atol=1e-13)
    # The paper's equations, written independently, agree too.
    rows = x.reshape(-1, K)
    paper = reference_output(rows, weight, b, encoder, M, decoder, alpha=2.0 * R, r=R, activation=activation)
    torch.testing.assert_close(got.reshape(-1, D), paper, rtol=0, atol=1e-13)
    for got_grad, expected in zip(_grads(got, trained), _grads(reference, trained), strict=True):
        torch.testing.assert_close(got_grad, expected, rtol=0, atol=1e-13)


def test_float32_matches_the_float64_reference():
    x, weight, b, encoder, M, decoder = tensors = _tensors()
    expected = F.linear(x, weight, b) + denselora_delta(x, encoder, M, decoder, UpdateOptions(scale=2.0))
    expected_grads = _grads(expected, (x, encoder, M, decoder))
    x, weight, b, encoder, M, decoder = [t.detach().float().requires_grad_(t.requires_grad) for t in tensors]
    got = _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
    assert got.dtype == torch.float32
    got_grads = _grads(got, (x, encoder, M, decoder))
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-6)
    for g, e in zip(got_grads, expected_grads, strict=True):
        torch.testing.assert_close(g.double(), e, rtol=1e-5, atol=1e-6)


def _masked_reference(x, weight, b, encoder, M, decoder, options, seed, activation="gelu"):
    """The update written out in float64 autograd ops with the masks the kernels draw for ``seed``."""
    act = F.gelu if activation == "gelu" else (lambda t: t)
    rows = x.reshape(-1, K)
    n = rows.shape[0]
    dropout = Dropout(seed, options.dropout)
    sites = range(options.mask_count)
    masks = [triton_kernels.dropped(dropout, n, width, site, rows.device) for site, width in enumerate((K, R, D))]

    def drop(t, site):
        return torch.where(masks[site], 0.0, t) * dropout.scale if site in sites else t

    u = drop(act(F.linear(F.linear(drop(act(F.linear(drop(rows, 0), encoder)), 1), M), decoder)), 2)
    return (F.linear(rows, weight, b) + options.scale * u).view(*x.shape[:-1], D)


@pytest.mark.parametrize("activation", ["gelu", "identity"])
@pytest.mark.parametrize("dropout_sites", ["all", "input"])
def test_dropout_uses_and_regenerates_the_masks_of_its_seed(dropout_sites, activation):
    x, weight, b, encoder, M, decoder = _tensors()
    trained = (x, encoder, M, decoder)
    options = UpdateOptions(scale=2.0, activation=activation, dropout=0.3, dropout_sites=dropout_sites)
    torch.manual_seed(5)
    got = _triton(x, weight, b, encoder, M, decoder, options, training=True)
    torch.manual_seed(5)
    expected = _masked_reference(x, weight, b, encoder, M, decoder, options, draw_seed(), activation)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-13)
    # Backward computes the forward's masks again from the seed: the gradients are those of the same masks.
    for got_grad, want in zip(_grads(got, trained), _grads(expected, trained), strict=True):
        torch.testing.assert_close(got_grad, want, rtol=0, atol=1e-13)
    no_dropout = _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, activation=activation))
    assert not torch.equal(got, no_dropout)


def test_gradcheck_with_dropout():
    """Fast mode (random directions): the interpreter runs each of slow mode's hundreds of forwards slowly."""
    x, weight, b, encoder, M, decoder = _tensors()

    def layer(x, encoder, M, decoder):
        torch.manual_seed(3)
        return _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=1.5, dropout=0.4), training=True)

    assert torch.autograd.gradcheck(layer, (x, encoder, M, decoder), fast_mode=True)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.9])
def test_masks_drop_at_the_rate_p_and_scale_by_the_exact_keep_probability(p):
    dropout = Dropout(draw_seed(), p)
    n = 256 * 320
    for site in range(3):
        dropped = int(triton_kernels.dropped(dropout, 256, 320, site, DEVICE).sum())
        assert abs(dropped - n * p) < 5 * math.sqrt(n * p * (1 - p)), (site, dropped / n)
    assert dropout.threshold == round(p * 2**32)
    assert dropout.scale == 2**32 / (2**32 - dropout.threshold)
    assert abs(dropout.scale * (1 - p) - 1) < 1e-9


def test_masks_are_a_function_of_seed_site_and_position():
    first = triton_kernels.dropped(Dropout(7, 0.5), 40, 70, 0, DEVICE)
    assert torch.equal(first, triton_kernels.dropped(Dropout(7, 0.5), 40, 70, 0, DEVICE))
    assert not torch.equal(first, triton_kernels.dropped(Dropout(8, 0.5), 40, 70, 0, DEVICE))
    assert not torch.equal(first, triton_kernels.dropped(Dropout(7, 0.5), 40, 70, 1, DEVICE))
    # An entry's bit does not depend on the tensor's shape: a taller or wider tensor extends the mask.
    assert torch.equal(first, triton_kernels.dropped(Dropout(7, 0.5), 50, 90, 0, DEVICE)[:40, :70])
    # Seeds use all of their 62 bits: seeds equal in their low 32 bits differ.
    high = triton_kernels.dropped(Dropout(7 + 2**40, 0.5), 40, 70, 0, DEVICE)
    assert not torch.equal(first, high)
    assert torch.equal(high, triton_kernels.dropped(Dropout(7 + 2**40, 0.5), 40, 70, 0, DEVICE))


def test_refuses_a_probability_that_rounds_to_no_dropout():
    with pytest.raises(ValueError, match="rounds to"):
        Dropout(1, 1e-12)


def test_backward_keeps_only_r_wide_activations_and_no_mask():
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    rows = x.reshape(-1, K)
    params = {tuple(t.shape) for t in (weight, encoder, M, decoder)}

    def run():
        _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.1), training=True)

    saved = [(shape, dtype) for shape, dtype in _saved(run) if shape not in params and shape != tuple(rows.shape)]
    assert saved and all(shape == (rows.shape[0], R) and dtype == torch.float32 for shape, dtype in saved), saved


def test_zero_decoder_gives_the_base_output_bit_for_bit_even_with_dropout():
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    with torch.no_grad():
        decoder.zero_()
    out = _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.5), training=True)
    assert torch.equal(out, F.linear(x, weight, b))


def test_inference_path_equals_the_autograd_path():
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    with_graph = _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
    with torch.no_grad():
        without = _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0))
    assert with_graph.grad_fn is not None and without.grad_fn is None
    assert torch.equal(with_graph, without)


def test_mixed_dtypes_compute_in_the_adapter_dtype():
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    x16, weight16, b16 = x.detach().bfloat16().requires_grad_(), weight.bfloat16(), b.bfloat16()
    torch.manual_seed(4)
    options = UpdateOptions(scale=2.0, dropout=0.3)
    out = _triton(x16, weight16, b16, encoder, M, decoder, options, training=True)
    torch.manual_seed(4)
    expected = _masked_reference(x16.float(), weight16.float(), b16.float(), encoder, M, decoder, options, draw_seed())
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=2e-2)
    trained = (x16, encoder, M, decoder)
    for got, want in zip(_grads(out.float(), trained), _grads(expected, trained), strict=True):
        assert got.dtype == want.dtype
        torch.testing.assert_close(got.float(), want.float(), rtol=2e-2, atol=6e-2)


def test_frozen_pairs_keep_no_input_and_still_pass_its_gradient():
    x, weight, b, encoder, M, decoder = _tensors()
    encoder, decoder = encoder.detach(), decoder.detach()
    options = UpdateOptions(scale=2.0, dropout=0.2)
    torch.manual_seed(6)
    saved = _saved(lambda: _triton(x, weight, b, encoder, M, decoder, options, training=True))
    assert tuple(x.reshape(-1, K).shape) not in {shape for shape, _ in saved}, saved
    torch.manual_seed(6)
    out = _triton(x, weight, b, encoder, M, decoder, options, training=True)
    torch.manual_seed(6)
    expected = _grads(_masked_reference(x, weight, b, encoder, M, decoder, options, draw_seed()), (x, M))
    for got, want in zip(_grads(out, (x, M)), expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-13)
    # Nor does an input without gradient stop M's.
    torch.manual_seed(6)
    out = _triton(x.detach(), weight, b, encoder, M, decoder, options, training=True)
    torch.testing.assert_close(_grads(out, (M,))[0], expected[1], rtol=0, atol=1e-13)


def test_ragged_shapes_and_a_larger_rank():
    """Shapes that fill no block: rows, widths and a rank of 20 (a 32-wide block) all cut at their edges."""
    g = torch.Generator().manual_seed(2)
    n, k, d, r = 45, 70, 130, 20

    def randn(*shape, trains=True):
        t = torch.randn(*shape, generator=g, dtype=torch.float64) / shape[-1] ** 0.5
        return t.to(DEVICE).requires_grad_(trains)

    x, weight, encoder, M, decoder = randn(n, k), randn(d, k, trains=False), randn(r, k), randn(r, r), randn(d, r)
    options = UpdateOptions(scale=0.5)
    got = _triton(x, weight, None, encoder, M, decoder, options)
    reference = F.linear(x, weight) + denselora_delta(x, encoder, M, decoder, options)
    torch.testing.assert_close(got, reference, rtol=0, atol=1e-13)
    for a, e in zip(_grads(got, (x, encoder, M, decoder)), _grads(reference, (x, encoder, M, decoder)), strict=True):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-12)


def test_an_empty_batch_gives_an_empty_output():
    _, weight, b, encoder, M, decoder = _tensors()
    x = torch.zeros(0, 3, K, dtype=torch.float64, device=DEVICE, requires_grad=True)
    out = _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=0.1), training=True)
    assert out.shape == (0, 3, D)
    out.sum().backward()
    assert x.grad.shape == x.shape and M.grad.abs().sum() == 0


def test_refuses_an_unknown_kernel_and_a_cpu_outside_the_interpreter(monkeypatch):
    x, weight, b, encoder, M, decoder = _cpu_tensors()
    with pytest.raises(ValueError, match="unknown kernel"):
        fused_denselora_linear(x, weight, b, encoder, M, decoder, UpdateOptions(scale=1.0), kernel="cuda")
    monkeypatch.setattr(triton_kernels, "interpreting", lambda: False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        _triton(x, weight, b, encoder, M, decoder, UpdateOptions(scale=1.0))


def _loss_and_grads(input_ids, kernel, checkpointing=False, dropout=0.0):
    config = DenseLoRAConfig(r=4, dropout=dropout, target_modules=LLAMA_TARGETS)
    model = apply_denselora(build_tiny_llama(seed=0, dtype=torch.float64), config).train()
    randomize_adapters(model)
    model.to(DEVICE)
    input_ids = input_ids.to(DEVICE)
    for layer in adapted_layers(model).values():
        layer.kernel = kernel
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    torch.manual_seed(9)
    loss = model(input_ids=input_ids, labels=input_ids).loss
    loss.backward()
    return loss, {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("checkpointing", [False, True])
def test_a_model_trains_with_the_triton_kernels_as_with_torch(input_ids, checkpointing, monkeypatch):
    """Whole LLaMA, float64, no dropout: the same loss and gradients, with activation checkpointing too."""
    calls = []
    decode_add_ = triton_kernels.decode_add_
    monkeypatch.setattr(triton_kernels, "decode_add_", lambda *args: calls.append(1) or decode_add_(*args))
    triton_run = _loss_and_grads(input_ids, "triton", checkpointing)
    assert len(calls) >= len(LLAMA_TARGETS)  # the layers ran the Triton kernels
    torch_run = _loss_and_grads(input_ids, "torch")
    torch.testing.assert_close(triton_run[0], torch_run[0], rtol=0, atol=1e-12)
    assert triton_run[1].keys() == torch_run[1].keys()
    for name, grad in triton_run[1].items():
        torch.testing.assert_close(grad, torch_run[1][name], rtol=0, atol=1e-12, msg=name)


def test_activation_checkpointing_recomputes_the_same_dropout(input_ids):
    plain = _loss_and_grads(input_ids, "triton", dropout=0.3)
    checkpointed = _loss_and_grads(input_ids, "triton", checkpointing=True, dropout=0.3)
    torch.testing.assert_close(checkpointed[0], plain[0], rtol=0, atol=1e-12)
    for name, grad in checkpointed[1].items():
        torch.testing.assert_close(grad, plain[1][name], rtol=0, atol=1e-12, msg=name)


@pytest.mark.parametrize("dropout", [0.0, 0.2])
@pytest.mark.usefixtures("inductor_headers_in_the_scratch_cache")
def test_torch_compile_gives_the_eager_result(dropout):
    """torch.compile leaves the Triton kernels out of its graphs and runs them as they are."""
    from torch._inductor import config as inductor_config

    x, weight, _, encoder, M, decoder = _tensors(dtype=torch.float32)
    trained = (x, encoder, M, decoder)

    def layer(x, encoder, M, decoder):
        return _triton(x, weight, None, encoder, M, decoder, UpdateOptions(scale=2.0, dropout=dropout), training=True)

    torch._dynamo.reset()
    torch.manual_seed(3)
    eager = layer(*trained)
    with inductor_config.patch(fallback_random=True):  # the eager random numbers, so the same dropout seeds
        torch.manual_seed(3)
        compiled = torch.compile(layer)(*trained)
    torch.testing.assert_close(compiled, eager, rtol=0, atol=0)
    for got, want in zip(_grads(compiled, trained), _grads(eager, trained), strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


#: Operators that launch nothing: views, allocations, and the interpreter's copies of a kernel's arguments to the
#: host and back (on a CPU only).
_NO_LAUNCH = (
    "view", "_unsafe_view", "t", "transpose", "detach", "reshape", "expand", "alias", "as_strided", "slice", "empty",
    "empty_like", "empty_strided", "new_empty", "set_", "copy_", "_to_copy", "lift_fresh", "_local_scalar_dense",
)  # fmt: skip


def _calls(run):
    """The torch operators ``run`` calls that do work, and the Triton kernels it launches, in order."""
    from torch.utils._python_dispatch import TorchDispatchMode

    launched = []

    class Count(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.overloadpacket.__name__ not in _NO_LAUNCH:
                launched.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    def counted(kernel):
        def run(*args, **kwargs):
            launched.append(kernel.fn.__name__)
            return launch(*args, **kwargs)

        launch = kernel.run
        return run

    with contextlib.ExitStack() as patches:
        for name in ("_encode_kernel", "_code_kernel", "_decode_kernel", "_input_grad_kernel", "_encoder_grad_kernel"):
            kernel = getattr(triton_kernels, name)
            patches.enter_context(mock.patch.object(kernel, "run", counted(kernel)))
        patches.enter_context(Count())
        run()
    return launched


@pytest.mark.parametrize("dropout_sites", ["all", "input"])
def test_a_training_step_of_a_layer_makes_fewer_calls_than_the_torch_kernel(dropout_sites, monkeypatch):
    """Forward and backward of one layer with dropout: 8 torch operators and 8 Triton kernels, where the torch
    kernel, with the dense masks a GPU draws, calls 39 operators (31 with dropout on the input only). Both count
    the seed's draw, on the CPU."""
    monkeypatch.setattr(fused_module, "drop_masks", functools.partial(drop_masks, layout="dense"))
    x, weight, b, encoder, M, decoder = _tensors(dtype=torch.float32)
    options = UpdateOptions(scale=2.0, dropout=0.1, dropout_sites=dropout_sites)
    grad_out = torch.ones(*x.shape[:-1], D, device=DEVICE)

    def step(kernel):
        out = fused_denselora_linear(x, weight, b, encoder, M, decoder, options, training=True, kernel=kernel)
        torch.autograd.grad(out, (x, encoder, M, decoder), grad_out)

    triton_calls = _calls(lambda: step("triton"))
    torch_calls = _calls(lambda: step("torch"))
    forward = ["randint", "addmm", "_encode_kernel", "_code_kernel", "mm", "_decode_kernel"]
    backward = ["_decode_kernel", "mm", "mm", "_code_kernel", "mm", "mm", "_code_kernel"]
    backward += ["_encoder_grad_kernel", "mm", "_input_grad_kernel"]
    assert triton_calls == forward + backward
    assert len(torch_calls) == (39 if dropout_sites == "all" else 31), torch_calls
