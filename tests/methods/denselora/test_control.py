import pytest
import torch

from denselora import (
    DenseLoRAConfig,
    apply_denselora,
    disable_adapters,
    enable_adapters,
    merge_adapters,
    unmerge_adapters,
)
from tests.conftest import LLAMA_TARGETS, build_tiny_llama, randomize_adapters


def _adapted(activation="gelu", dtype=torch.float32):
    model = build_tiny_llama(dtype=dtype)
    ids = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        base = model(ids).logits
    apply_denselora(model, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS, activation=activation))
    randomize_adapters(model)
    return model, ids, base


def _logits(model, ids):
    with torch.no_grad():
        return model(ids).logits


def test_disabled_adapters_give_the_base_output_exactly():
    model, ids, base = _adapted()
    adapted = _logits(model, ids)
    assert not torch.allclose(adapted, base)
    with disable_adapters(model):
        assert torch.equal(_logits(model, ids), base)
    assert torch.equal(_logits(model, ids), adapted)  # restored on exit


def test_switches_without_a_with_block_and_nested():
    model, ids, base = _adapted()
    adapted = _logits(model, ids)
    disable_adapters(model)
    assert torch.equal(_logits(model, ids), base)
    with enable_adapters(model):
        assert torch.equal(_logits(model, ids), adapted)
    assert torch.equal(_logits(model, ids), base)  # back to disabled, as it was before the block
    enable_adapters(model)
    assert torch.equal(_logits(model, ids), adapted)


def test_restored_after_an_exception():
    model, ids, _ = _adapted()
    adapted = _logits(model, ids)
    with pytest.raises(KeyError), disable_adapters(model):
        raise KeyError("boom")
    assert torch.equal(_logits(model, ids), adapted)


def test_merge_and_unmerge_identity_adapters():
    model, ids, _ = _adapted(activation="identity")
    adapted = _logits(model, ids)
    weights = {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith("proj.weight")}
    merge_adapters(model)
    changed = [n for n, p in model.named_parameters() if n in weights and not torch.equal(p, weights[n])]
    assert len(changed) == 10  # every adapted layer's weight, nothing else
    merged = _logits(model, ids)
    assert ((merged - adapted).norm() / adapted.norm()).item() < 1e-5
    with pytest.raises(RuntimeError, match="unmerge_adapters"):
        disable_adapters(model)
    merge_adapters(model)  # a second merge is a no-op
    assert torch.equal(_logits(model, ids), merged)
    merged_weights = {n: p.detach().clone() for n, p in model.named_parameters() if n in weights}
    unmerge_adapters(model)
    for name, param in model.named_parameters():
        if name in weights:
            # W + dW rounds once; taking dW back out is exact up to that one rounding of the merged weight.
            one_rounding = torch.finfo(param.dtype).eps * merged_weights[name].abs()
            assert ((param - weights[name]).abs() <= one_rounding).all(), name
    assert ((_logits(model, ids) - adapted).norm() / adapted.norm()).item() < 1e-6


def test_merged_weight_matches_float64_reference():
    model, _, _ = _adapted(activation="identity")
    layer = model.model.layers[0].mlp.down_proj
    pair = layer.encoder_decoder
    expected = layer.weight.double() + layer.scale * pair.decoder.double() @ layer.M.double() @ pair.encoder.double()
    merge_adapters(model)
    assert layer.scale == 32 / 4
    torch.testing.assert_close(layer.weight.double(), expected, rtol=torch.finfo(torch.float32).eps, atol=0)


def test_gelu_adapters_refuse_to_merge_and_change_nothing():
    model, ids, _ = _adapted(activation="gelu")
    adapted = _logits(model, ids)
    with pytest.raises(ValueError, match=r"not linear in h.*activation='identity'"):
        merge_adapters(model)
    assert torch.equal(_logits(model, ids), adapted)


def test_models_without_adapters_are_refused():
    with pytest.raises(ValueError, match="no DenseLoRA adapters"):
        disable_adapters(build_tiny_llama())
