import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from denselora import (
    AdapterMismatchError,
    DenseLoRAConfig,
    adapted_layers,
    apply_denselora,
    get_adapter_state_dict,
    load_adapter,
    save_adapter,
)
from denselora.methods.denselora.saving import ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE
from tests.conftest import LLAMA_TARGETS, build_tiny_llama, randomize_adapters

CONFIG = DenseLoRAConfig(r=4, alpha=8, target_modules=LLAMA_TARGETS, activation="gelu")


@pytest.fixture
def saved(tmp_path, input_ids):
    model = apply_denselora(build_tiny_llama(), CONFIG)
    randomize_adapters(model)
    with torch.no_grad():
        logits = model(input_ids).logits
    save_adapter(model, tmp_path / "adapter")
    return tmp_path / "adapter", logits, model


def test_adapter_state_is_only_the_adapter(saved):
    directory, _, model = saved
    state = get_adapter_state_dict(model)
    assert len(state) == 5 * 2 + 2 * 5  # a pair per target name, an M per layer
    assert sum(t.numel() for t in state.values()) == sum(p.numel() for p in model.parameters() if p.requires_grad)
    on_disk = load_file(directory / ADAPTER_WEIGHTS_FILE)
    assert set(on_disk) == set(state) and all(torch.equal(on_disk[k], state[k]) for k in state)
    metadata = json.loads((directory / ADAPTER_CONFIG_FILE).read_text())
    assert DenseLoRAConfig.from_dict(metadata["config"]) == CONFIG
    assert metadata["layers"]["model.layers.1.self_attn.k_proj"] == {
        "group": "k_proj",
        "in_features": 64,
        "out_features": 32,
    }
    assert not list(directory.glob(".*"))  # no temporary files left behind


def test_load_into_a_fresh_base_reproduces_outputs(saved, input_ids):
    directory, logits, _ = saved
    model = load_adapter(build_tiny_llama(), directory)
    assert len(adapted_layers(model)) == 10
    with torch.no_grad():
        assert torch.equal(model(input_ids).logits, logits)


def test_load_into_an_adapted_model_with_another_dtype(saved, input_ids):
    directory, logits, _ = saved
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(**{**CONFIG.to_dict(), "dtype": "float64"}))
    load_adapter(model, directory)
    assert model.denselora["q_proj"].encoder.dtype is torch.float64
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids).logits, logits)


def test_another_base_shape_is_refused_with_the_layers_named(saved):
    directory, _, _ = saved
    model = build_tiny_llama(intermediate_size=96)
    with pytest.raises(AdapterMismatchError) as err:
        load_adapter(model, directory)
    message = str(err.value)
    assert "differ in shape" in message
    assert "model.layers.0.mlp.up_proj: the adapter was trained for 64 -> 160, the model has 64 -> 96" in message
    assert not adapted_layers(model)  # nothing changed


def test_another_rank_is_refused(saved):
    directory, _, _ = saved
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(**{**CONFIG.to_dict(), "r": 8}))
    with pytest.raises(AdapterMismatchError, match="r: the adapter has 4, the model 8"):
        load_adapter(model, directory)


def test_another_target_set_is_refused(saved):
    directory, _, _ = saved
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(**{**CONFIG.to_dict(), "target_modules": ["q_proj"]}))
    with pytest.raises(AdapterMismatchError, match=r"8 layer\(s\) adapted in the adapter are not targets"):
        load_adapter(model, directory)


def test_another_activation_is_refused(saved):
    directory, _, _ = saved
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(**{**CONFIG.to_dict(), "activation": "identity"}))
    with pytest.raises(AdapterMismatchError, match="activation: the adapter has 'gelu', the model 'identity'"):
        load_adapter(model, directory)


def test_a_model_without_the_layers_is_refused(saved):
    directory, _, _ = saved
    with pytest.raises(
        AdapterMismatchError, match=r"q_proj, k_proj, v_proj, up_proj, down_proj match no nn\.Linear layer"
    ):
        load_adapter(torch.nn.Sequential(torch.nn.Linear(4, 4)), directory)


def test_missing_and_damaged_files(saved, tmp_path):
    directory, _, _ = saved
    with pytest.raises(FileNotFoundError, match="is not a saved DenseLoRA adapter"):
        load_adapter(build_tiny_llama(), tmp_path / "nowhere")

    weights = directory / ADAPTER_WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(AdapterMismatchError, match="damaged or incomplete"):
        load_adapter(build_tiny_llama(), directory)

    (directory / ADAPTER_CONFIG_FILE).write_text("{not json")
    with pytest.raises(AdapterMismatchError, match="is not valid JSON"):
        load_adapter(build_tiny_llama(), directory)

    (directory / ADAPTER_CONFIG_FILE).write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(AdapterMismatchError, match="not a DenseLoRA adapter config"):
        load_adapter(build_tiny_llama(), directory)


def test_a_file_with_missing_tensors_is_refused(saved):
    directory, _, model = saved
    from safetensors.torch import save_file

    state = {k: v for k, v in get_adapter_state_dict(model).items() if not k.endswith("q_proj.M")}
    save_file(state, directory / ADAPTER_WEIGHTS_FILE)
    with pytest.raises(AdapterMismatchError, match=r"2 adapter tensor\(s\) missing from the file"):
        load_adapter(build_tiny_llama(), directory)


def test_meta_models_cannot_be_saved(tmp_path):
    with torch.device("meta"):
        model = build_tiny_llama()
    apply_denselora(model, CONFIG)
    with pytest.raises(ValueError, match="meta device"):
        save_adapter(model, tmp_path)


def _snapshot(model):
    """What a failed load must leave as it was: the module tree, each parameter object and its trainability."""
    return (
        [(name, id(m), type(m)) for name, m in model.named_modules()],
        [(name, id(p), p.requires_grad) for name, p in model.named_parameters()],
    )


def _fresh_and_adapted():
    return [("fresh", build_tiny_llama()), ("adapted", apply_denselora(build_tiny_llama(), CONFIG))]


@pytest.mark.parametrize("which", ["fresh", "adapted"])
@pytest.mark.parametrize("damage", ["truncated", "missing key", "wrong shape", "integer tensor"])
def test_a_bad_weights_file_leaves_the_model_untouched(saved, which, damage):
    directory, _, adapted = saved
    weights = directory / ADAPTER_WEIGHTS_FILE
    state = dict(get_adapter_state_dict(adapted))
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-64])  # header intact, the data cut short
        expected = str(weights)
    elif damage == "missing key":
        del state["model.layers.1.mlp.down_proj.M"]
        save_file(state, weights)
        expected = "model.layers.1.mlp.down_proj.M"
    elif damage == "wrong shape":
        state["model.layers.0.self_attn.q_proj.M"] = torch.zeros(4, 5)
        save_file(state, weights)
        expected = "model.layers.0.self_attn.q_proj.M: file (4, 5), model (4, 4)"
    else:
        state["model.layers.0.self_attn.q_proj.M"] = torch.zeros(4, 4, dtype=torch.int64)
        save_file(state, weights)
        expected = "model.layers.0.self_attn.q_proj.M: file torch.int64"
    model = dict(_fresh_and_adapted())[which]
    before = _snapshot(model)
    values = {name: p.detach().clone() for name, p in model.named_parameters()}
    with pytest.raises(AdapterMismatchError) as err:
        load_adapter(model, directory)
    assert expected in str(err.value)
    assert _snapshot(model) == before
    assert all(torch.equal(p, values[name]) for name, p in model.named_parameters())


def test_the_base_identity_is_recorded(saved):
    directory, _, _ = saved
    identity = json.loads((directory / ADAPTER_CONFIG_FILE).read_text())["base_identity"]
    assert identity["model_type"] == "llama" and identity["num_hidden_layers"] == 2
    assert identity["hidden_size"] == 64 and len(identity["linear_layers_sha256"]) == 64


def test_loading_into_the_same_base_does_not_warn(saved, recwarn):
    directory, _, _ = saved
    load_adapter(build_tiny_llama(), directory)
    load_adapter(apply_denselora(build_tiny_llama(), CONFIG), directory)
    assert not [w for w in recwarn if "base" in str(w.message)]


def test_loading_into_another_base_warns_with_what_differs(saved):
    directory, _, _ = saved
    # Same adapted layers, so the adapter fits; but the vocabulary says it is another base.
    model = build_tiny_llama(vocab_size=200)
    with pytest.warns(UserWarning, match="saved from another base model") as caught:
        load_adapter(model, directory)
    assert "vocab_size: saved 128, now 200" in str(caught[0].message)
    assert len(adapted_layers(model)) == 10  # loaded all the same


@pytest.mark.parametrize(
    ("loaded_from", "warns"),
    [("org/base-b", True), ("/models/base-a/", False), ("org/base-a", False)],
)
def test_the_base_name_is_compared_without_its_folder(tmp_path, loaded_from, warns, recwarn):
    model = apply_denselora(build_tiny_llama(), CONFIG)
    model.config._name_or_path = "org/base-a"
    save_adapter(model, tmp_path)
    fresh = build_tiny_llama()
    fresh.config._name_or_path = loaded_from
    load_adapter(fresh, tmp_path)
    messages = [str(w.message) for w in recwarn if "another base model" in str(w.message)]
    expected = (
        f"the adapter in {tmp_path} was saved from another base model than the one it is loaded into "
        f"(name_or_path: saved 'org/base-a', now {loaded_from!r}); its layers fit, so it loads, but it was "
        "trained for that other base"
    )
    assert messages == ([expected] if warns else [])


def test_adapters_saved_without_an_identity_load_without_a_warning(saved, recwarn):
    directory, _, _ = saved
    metadata = json.loads((directory / ADAPTER_CONFIG_FILE).read_text())
    del metadata["base_identity"]
    (directory / ADAPTER_CONFIG_FILE).write_text(json.dumps(metadata))
    model = build_tiny_llama(vocab_size=200)
    load_adapter(model, directory)
    assert not [w for w in recwarn if "base" in str(w.message)]
