"""DenseLoRA: dense low-rank adaptation of large language models, with PyTorch Lightning.

    y = W0 h + b + s * gelu(W_d M gelu(W_e h)),    s = alpha / r

``W_e`` (``r x k``) and ``W_d`` (``d x r``) are shared by every layer of one target name; each adapted layer
trains only its own ``r x r`` matrix ``M``.
"""

__version__ = "0.1.0"

from denselora.config import DenseLoRAConfig
from denselora.control import disable_adapters, enable_adapters, merge_adapters, unmerge_adapters
from denselora.errors import AdapterMismatchError, ConfigError, UserError
from denselora.inject import adapted_layers, apply_denselora, find_targets, get_shared, has_denselora
from denselora.modules import DenseLoRALinear, EncoderDecoder, SharedEncoderDecoders, get_adapter_params
from denselora.report import ParameterReport, parameter_report
from denselora.state import get_adapter_state_dict, load_adapter, save_adapter

__all__ = [
    "AdapterMismatchError",
    "ConfigError",
    "DenseLoRAConfig",
    "DenseLoRALinear",
    "EncoderDecoder",
    "ParameterReport",
    "SharedEncoderDecoders",
    "UserError",
    "__version__",
    "adapted_layers",
    "apply_denselora",
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
    "unmerge_adapters",
]
