import dataclasses
import json
import typing

import pytest
from torch import nn

from denselora import DenseLoRAConfig, DenseLoRALinear
from denselora.methods.denselora.options import (
    Activation,
    ActivationName,
    DropoutSites,
    DropoutSitesName,
    UpdateOptions,
)
from denselora.methods.denselora.shared import EncoderDecoder


def test_the_yaml_literals_list_exactly_the_enums_strings():
    assert typing.get_args(ActivationName) == Activation.values() == ("gelu", "identity")
    assert typing.get_args(DropoutSitesName) == DropoutSites.values() == ("all", "input")
    hints = typing.get_type_hints(DenseLoRAConfig)
    assert hints["activation"] == ActivationName and hints["dropout_sites"] == DropoutSitesName


def test_members_are_their_strings():
    assert Activation.IDENTITY == "identity" and str(Activation.IDENTITY) == f"{Activation.IDENTITY}" == "identity"
    assert json.dumps({"sites": DropoutSites.INPUT}) == '{"sites": "input"}'


@pytest.mark.parametrize("given", ["identity", Activation.IDENTITY])
def test_the_config_keeps_plain_strings(given):
    config = DenseLoRAConfig(activation=given, dropout_sites=DropoutSites.INPUT)
    assert type(config.activation) is str and type(config.dropout_sites) is str
    expected = {**DenseLoRAConfig().to_dict(), "activation": "identity", "dropout_sites": "input"}
    assert json.dumps(config.to_dict()) == json.dumps(expected)


def test_update_options_read_their_strings_once():
    options = UpdateOptions(scale=2.0, activation="identity", dropout=0.1, dropout_sites="input")
    assert options.activation is Activation.IDENTITY and options.dropout_sites is DropoutSites.INPUT
    assert (options.gelu, options.inner_dropout, options.mask_count) == (False, 0.0, 1)
    everywhere = UpdateOptions(scale=2.0, dropout=0.1)
    assert (everywhere.gelu, everywhere.inner_dropout, everywhere.mask_count) == (True, 0.1, 3)
    with pytest.raises(ValueError, match="relu"):
        UpdateOptions(scale=1.0, activation="relu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.dropout = 0.0


def test_a_layer_builds_its_options_once():
    layer = DenseLoRALinear(nn.Linear(8, 6), EncoderDecoder(8, 6, 2), group="g", scale=1.5, activation="identity")
    assert layer.options == UpdateOptions(scale=1.5, activation=Activation.IDENTITY)
    assert (layer.scale, layer.activation, layer.dropout, layer.dropout_sites) == (1.5, "identity", 0.0, "all")
    assert "activation='identity'" in repr(layer)
