"""DenseLoRA, the method's folder: the adapter itself, usable without the trainer, and its trainer interface.

- :mod:`.config`: :class:`DenseLoRAConfig`, what to adapt and how; :mod:`.options`: :class:`Activation`,
  :class:`DropoutSites` and :class:`UpdateOptions`, the update's options as both kernels read them;
- :mod:`.shared`, :mod:`.layer`: the shared encoder/decoder pairs and the adapted linear layer, with the update
  computed by :mod:`.functional` (plain autograd, the reference) or :mod:`.fused` (one autograd function, with
  :mod:`.dropout_masks`; or with the Triton kernels of :mod:`.triton_kernels`, imported only when used);
- :mod:`.inject`: :func:`apply_denselora`, swapping the layers of a model; :mod:`.saving`: :func:`save_adapter` /
  :func:`load_adapter` (safetensors + JSON); :mod:`.control`: switching adapters off and on, merging them;
- :mod:`.parameter_report`: what an adapted model trains, against LoRA at the same rank;
- :mod:`.method`: :class:`DenseLoRA`, the method as the trainer uses it.

What every method shares lives one folder up: which layers a config selects (:mod:`denselora.methods.targets`),
how adapter parameters are found (:mod:`denselora.methods.adapter_module`) and counted
(:mod:`denselora.methods.parameter_counts`).
"""

from denselora.methods.adapter_module import AdapterModule, get_adapter_params, set_trainable_params
from denselora.methods.denselora.config import DenseLoRAConfig
from denselora.methods.denselora.control import disable_adapters, enable_adapters, merge_adapters, unmerge_adapters
from denselora.methods.denselora.functional import denselora_delta
from denselora.methods.denselora.inject import adapted_layers, apply_denselora, find_targets, get_shared, has_denselora
from denselora.methods.denselora.layer import DenseLoRALinear
from denselora.methods.denselora.method import DenseLoRA
from denselora.methods.denselora.options import Activation, DropoutSites, UpdateOptions
from denselora.methods.denselora.parameter_report import ParameterReport, parameter_report
from denselora.methods.denselora.saving import get_adapter_state_dict, load_adapter, save_adapter
from denselora.methods.denselora.shared import EncoderDecoder, SharedEncoderDecoders
from denselora.methods.parameter_counts import ParameterCount, count_parameters

__all__ = [
    "Activation",
    "AdapterModule",
    "DenseLoRA",
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
