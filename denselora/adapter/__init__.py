"""The DenseLoRA adapter, usable without the trainer: configure it, inject it, save and load it, switch it.

- :mod:`~denselora.adapter.config`: :class:`DenseLoRAConfig`, what to adapt and how;
- :mod:`~denselora.adapter.options`: :class:`Activation`, :class:`DropoutSites` and :class:`UpdateOptions`, the
  update's options as both kernels read them;
- :mod:`~denselora.adapter.targets`: which linear layers a config selects, checked against the model;
- :mod:`~denselora.adapter.shared`, :mod:`~denselora.adapter.layer`: the shared encoder/decoder pairs and the
  adapted linear layer, with the update computed by :mod:`~denselora.adapter.functional` (plain autograd, the
  reference) or :mod:`~denselora.adapter.fused` (one autograd function, with
  :mod:`~denselora.adapter.dropout_masks`);
- :mod:`~denselora.adapter.protocol`: how adapter parameters are found (``adapter_params()``);
- :mod:`~denselora.adapter.inject`: :func:`apply_denselora`, swapping the layers of a model;
- :mod:`~denselora.adapter.saving`: :func:`save_adapter` / :func:`load_adapter` (safetensors + JSON);
- :mod:`~denselora.adapter.control`: switching adapters off and on, merging them;
- :mod:`~denselora.adapter.parameters`: what an adapted model trains, against LoRA at the same rank.
"""

from denselora.adapter.config import DenseLoRAConfig
from denselora.adapter.control import disable_adapters, enable_adapters, merge_adapters, unmerge_adapters
from denselora.adapter.functional import denselora_delta
from denselora.adapter.inject import adapted_layers, apply_denselora, find_targets, get_shared, has_denselora
from denselora.adapter.layer import DenseLoRALinear
from denselora.adapter.options import Activation, DropoutSites, UpdateOptions
from denselora.adapter.parameters import ParameterCount, ParameterReport, count_parameters, parameter_report
from denselora.adapter.protocol import AdapterModule, get_adapter_params, set_trainable_params
from denselora.adapter.saving import get_adapter_state_dict, load_adapter, save_adapter
from denselora.adapter.shared import EncoderDecoder, SharedEncoderDecoders

__all__ = [
    "Activation",
    "AdapterModule",
    "DenseLoRAConfig",
    "DenseLoRALinear",
    "DropoutSites",
    "EncoderDecoder",
    "ParameterCount",
    "ParameterReport",
    "SharedEncoderDecoders",
    "UpdateOptions",
    "adapted_layers",
    "apply_denselora",
    "count_parameters",
    "denselora_delta",
    "disable_adapters",
    "enable_adapters",
    "find_targets",
    "get_adapter_params",
    "get_adapter_state_dict",
    "get_shared",
    "has_denselora",
    "load_adapter",
    "merge_adapters",
    "parameter_report",
    "save_adapter",
    "set_trainable_params",
    "unmerge_adapters",
]
