import pytest
import torch

from denselora.methods.denselora.functional import denselora_delta, merged_delta_weight
from denselora.methods.denselora.options import UpdateOptions
from tests.methods.denselora.reference import reference_output


def _tensors(k=24, d=40, r=6, n=10, seed=0, dtype=torch.float64):
    # Unit-variance pre-activations, so that GELU sees its curved region and nothing underflows to 0.
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(shape, generator=g, dtype=dtype) / shape[1] ** 0.5
        if i
        else torch.randn(shape, generator=g, dtype=dtype)
        for i, shape in enumerate([(n, k), (r, k), (r, r), (d, r)])
    ]


@pytest.mark.parametrize("activation", ["gelu", "identity"])
def test_delta_matches_equations_3_to_5_in_float64(activation):
    x, W_e, M, W_d = _tensors()
    zero_base = torch.zeros(W_d.shape[0], x.shape[1], dtype=torch.float64)
    expected = reference_output(x, zero_base, None, W_e, M, W_d, alpha=12.0, r=6, activation=activation)
    got = denselora_delta(x, W_e, M, W_d, UpdateOptions(scale=12.0 / 6, activation=activation))
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_gelu_is_the_exact_one_not_the_tanh_approximation():
    x, W_e, M, W_d = _tensors()
    exact = denselora_delta(x, W_e, M, W_d, UpdateOptions(scale=1.0))
    tanh = torch.nn.functional.gelu
    approx = tanh(tanh(x @ W_e.T, approximate="tanh") @ M.T @ W_d.T, approximate="tanh")
    assert not torch.allclose(exact, approx, rtol=0, atol=1e-9)


def test_float32_matches_float64_reference():
    x, W_e, M, W_d = _tensors()
    got = denselora_delta(x.float(), W_e.float(), M.float(), W_d.float(), UpdateOptions(scale=2.0))
    expected = denselora_delta(x, W_e, M, W_d, UpdateOptions(scale=2.0))
    assert ((got.double() - expected).norm() / expected.norm()).item() < 1e-6


def test_backward_matches_finite_differences():
    tensors = [t.requires_grad_() for t in _tensors(k=5, d=7, r=3, n=4)]
    assert torch.autograd.gradcheck(lambda *t: denselora_delta(*t, UpdateOptions(scale=1.5)), tensors)


def test_no_dropout_outside_training():
    x, W_e, M, W_d = _tensors()
    a = denselora_delta(x, W_e, M, W_d, UpdateOptions(scale=1.0, dropout=0.5), training=False)
    b = denselora_delta(x, W_e, M, W_d, UpdateOptions(scale=1.0, dropout=0.0), training=True)
    assert torch.equal(a, b)


@pytest.mark.parametrize("sites, zero_share", [("all", 0.5), ("input", 0.0)])
def test_dropout_sites(sites, zero_share):
    # Only the authors' dropout after the decoder activation zeroes whole output entries.
    x, W_e, M, W_d = _tensors(k=64, d=256, r=8, n=64)
    torch.manual_seed(0)
    out = denselora_delta(x, W_e, M, W_d, UpdateOptions(scale=1.0, dropout=0.5, dropout_sites=sites), training=True)
    share = (out == 0).double().mean().item()
    assert abs(share - zero_share) < 0.02
    assert not torch.equal(out, denselora_delta(x, W_e, M, W_d, UpdateOptions(scale=1.0)))


def test_merged_weight_is_the_linear_update():
    x, W_e, M, W_d = _tensors()
    dW = merged_delta_weight(W_e, M, W_d, scale=3.0)
    torch.testing.assert_close(
        x @ dW.T, denselora_delta(x, W_e, M, W_d, UpdateOptions(scale=3.0, activation="identity"))
    )
