import pytest
import torch
from torch import nn

from denselora import DenseLoRAConfig, DenseLoRALinear, adapted_layers, apply_denselora, get_adapter_params
from denselora.methods.denselora.shared import EncoderDecoder
from tests.conftest import LLAMA_TARGETS, build_tiny_llama, randomize_adapters
from tests.methods.denselora.reference import reference_output


def _layer(bias=True, r=4, alpha=8.0, activation="gelu", base_dtype=torch.float32, adapter_dtype=None, seed=0):
    torch.manual_seed(seed)
    base = nn.Linear(48, 80, bias=bias).to(base_dtype)
    shared = EncoderDecoder(48, 80, r, dtype=adapter_dtype or base_dtype)
    layer = DenseLoRALinear(base, shared, group="proj", scale=alpha / r, activation=activation, dtype=adapter_dtype)
    with torch.no_grad():
        shared.decoder.normal_(0, 0.2)  # zero at init; make the update visible
    return layer.eval()


def _reference(layer, x, alpha=8.0):
    pair = layer.encoder_decoder
    return reference_output(
        x, layer.weight, layer.bias, pair.encoder, layer.M, pair.decoder, alpha, layer.r, layer.activation
    )


def test_layer_adopts_the_base_parameters_without_copying():
    base = nn.Linear(8, 6)
    layer = DenseLoRALinear(base, EncoderDecoder(8, 6, 2), group="g", scale=1.0)
    assert layer.weight is base.weight and layer.bias is base.bias
    assert not layer.weight.requires_grad and not layer.bias.requires_grad
    assert set(dict(layer.named_parameters())) == {"weight", "bias", "M"}


@pytest.mark.parametrize("activation", ["gelu", "identity"])
@pytest.mark.parametrize("bias", [True, False])
def test_float32_layer_matches_float64_reference(activation, bias):
    layer = _layer(bias=bias, activation=activation)
    x = torch.randn(3, 7, 48)
    got = layer(x).reshape(-1, 80)
    expected = _reference(layer, x.reshape(-1, 48))
    rel = ((got.double() - expected).norm() / expected.norm()).item()
    assert rel < 1e-5
    # The adapter's own contribution is large enough that a wrong formula could not hide below 1e-5.
    base_only = nn.functional.linear(x.reshape(-1, 48), layer.weight, layer.bias).double()
    assert ((expected - base_only).norm() / expected.norm()).item() > 1e-2


def test_initial_output_is_the_base_output_bit_for_bit(input_ids):
    for dtype in (torch.float32, torch.bfloat16):
        model = build_tiny_llama(dtype=dtype)
        with torch.no_grad():
            before = model(input_ids).logits
        apply_denselora(model, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
        with torch.no_grad():
            after = model(input_ids).logits
        assert torch.equal(before, after), dtype


def test_adapted_model_matches_its_float64_self(input_ids):
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
    randomize_adapters(model)
    with torch.no_grad():
        got = model(input_ids).logits.double()
        expected = model.double()(input_ids).logits
    assert ((got - expected).norm() / expected.norm()).item() < 1e-5


def test_gradients_reach_only_adapter_parameters(input_ids):
    model = build_tiny_llama()
    apply_denselora(model, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS)).train()
    randomize_adapters(model)
    model(input_ids, labels=input_ids).loss.backward()
    adapter = {id(p) for p in get_adapter_params(model).values()}
    for name, param in model.named_parameters():
        if id(param) in adapter:
            assert param.requires_grad and param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert not param.requires_grad and param.grad is None, name


def test_at_initialisation_only_the_decoders_get_gradient(input_ids):
    # W_d = 0 blocks the gradient to W_e and M until the first step moves W_d: a property of the paper's init.
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS)).train()
    model(input_ids, labels=input_ids).loss.backward()
    for name, pair in model.denselora.items():
        assert pair.decoder.grad.abs().sum() > 0, name
        assert pair.encoder.grad.abs().sum() == 0, name


def test_freeze_starts_at_the_base_output_and_trains_M_from_the_first_step(input_ids):
    # A decoder frozen at zero would leave every M without gradient; Freeze draws the pairs and zeroes M instead.
    model = build_tiny_llama()
    with torch.no_grad():
        base = model(input_ids).logits
    config = DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS, train_encoder_decoder=False)
    apply_denselora(model, config)
    with torch.no_grad():
        assert torch.equal(model(input_ids).logits, base)
    assert all(pair.decoder.abs().sum() > 0 for pair in model.denselora.values())
    model.train()
    model(input_ids, labels=input_ids).loss.backward()
    for name, layer in adapted_layers(model).items():
        assert layer.M.grad is not None and layer.M.grad.abs().sum() > 0, name


def test_freeze_trains_only_M(input_ids):
    config = DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS, train_encoder_decoder=False)
    model = apply_denselora(build_tiny_llama(), config).train()
    randomize_adapters(model)
    model(input_ids, labels=input_ids).loss.backward()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.endswith(".M") for n in trainable)
    assert all(p.grad is None for p in model.denselora.parameters())


@pytest.mark.parametrize("adapter_dtype", [torch.float32, torch.bfloat16])
def test_bfloat16_base(adapter_dtype):
    layer = _layer(base_dtype=torch.bfloat16, adapter_dtype=adapter_dtype)
    assert layer.weight.dtype is torch.bfloat16
    assert layer.M.dtype is adapter_dtype and layer.encoder_decoder.encoder.dtype is adapter_dtype
    layer.train()
    x = torch.randn(4, 48, dtype=torch.bfloat16)
    out = layer(x)
    assert out.dtype is torch.bfloat16
    out.float().square().sum().backward()
    for param in (layer.M, layer.encoder_decoder.encoder, layer.encoder_decoder.decoder):
        assert param.grad.dtype is adapter_dtype and torch.isfinite(param.grad).all()
    layer.eval()
    with torch.no_grad():
        rel = ((layer(x).double() - _reference(layer, x)).norm() / _reference(layer, x).norm()).item()
    assert rel < 2e-2  # bfloat16 keeps 8 bits of mantissa


def test_bfloat16_model_with_float32_adapters_trains(input_ids):
    config = DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS, dtype="float32")
    model = apply_denselora(build_tiny_llama(dtype=torch.bfloat16), config).train()
    assert {p.dtype for p in get_adapter_params(model).values()} == {torch.float32}
    model(input_ids, labels=input_ids).loss.backward()
    assert all(p.grad is not None for p in model.denselora.parameters())
