import pytest
import torch

from denselora import DenseLoRAConfig, DenseLoRALinear


def test_defaults_are_the_authors_commonsense_recipe():
    config = DenseLoRAConfig()
    assert (config.r, config.alpha, config.dropout) == (16, 32.0, 0.05)
    assert config.target_modules == ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]
    assert (config.activation, config.dropout_sites, config.sharing) == ("gelu", "all", "name")
    assert config.train_encoder_decoder is True
    assert config.scale == 2.0
    assert config.torch_dtype is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"r": 0}, "r must be a positive integer"),
        ({"r": -4}, "r must be a positive integer"),
        ({"r": 2.5}, "r must be a positive integer"),
        ({"alpha": 0}, "alpha must be a positive number"),
        ({"alpha": float("nan")}, "alpha must be a positive number"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"target_modules": []}, "non-empty list"),
        ({"target_modules": ["q_proj", ""]}, "invalid module name"),
        ({"target_modules": "(unclosed"}, "not a valid regex"),
        ({"activation": "relu"}, "activation must be one of"),
        ({"dropout_sites": "decoder"}, "dropout_sites must be one of"),
        ({"sharing": "shape"}, "sharing must be one of"),
        ({"dtype": "int8"}, "dtype must be one of"),
        ({"train_encoder_decoder": "no"}, "train_encoder_decoder must be true or false"),
        ({"fused": "yes"}, "fused must be true or false"),
    ],
)
def test_bad_values_are_refused_with_the_field_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DenseLoRAConfig(**kwargs)


def test_suffix_targets_match_whole_dotted_components():
    config = DenseLoRAConfig(target_modules=["q_proj"])
    assert config.matches("model.layers.0.self_attn.q_proj")
    assert config.matches("q_proj")
    assert not config.matches("model.layers.0.self_attn.xq_proj")
    assert not config.matches("model.layers.0.self_attn.q_proj.inner")


def test_regex_targets_match_the_full_name():
    config = DenseLoRAConfig(target_modules=r".*\.(q|v)_proj")
    assert config.matches("model.layers.3.self_attn.v_proj")
    assert not config.matches("model.layers.3.self_attn.k_proj")
    assert not config.matches("model.layers.3.self_attn.v_proj_extra")


def test_dict_round_trip_and_unknown_keys():
    config = DenseLoRAConfig(r=8, alpha=16, activation="identity", dtype="torch.bfloat16")
    assert config.dtype == "bfloat16" and config.torch_dtype is torch.bfloat16
    assert DenseLoRAConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=r"unknown DenseLoRAConfig field.*'rank'"):
        DenseLoRAConfig.from_dict({**config.to_dict(), "rank": 8})


def test_the_module_paths_of_0_3_import_for_one_more_release():
    import importlib
    import sys

    from denselora.moved_modules import MOVED

    for old, new in MOVED.items():
        sys.modules.pop(old, None)  # an earlier import would not warn again
        with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
            module = importlib.import_module(old)
        assert module is importlib.import_module(new)
    assert importlib.import_module("denselora.adapter.layer").DenseLoRALinear is DenseLoRALinear
