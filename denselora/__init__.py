"""DenseLoRA: dense low-rank adaptation of large language models, with PyTorch Lightning.

    y = W0 h + b + s * gelu(W_d M gelu(W_e h)),    s = alpha / r

``W_e`` (``r x k``) and ``W_d`` (``d x r``) are shared by every layer of one target name; each adapted layer
trains only its own ``r x r`` matrix ``M``.
"""

# The quickstart registers its base model, the tiny tokenizer's text and its sets' answer rules with models/ and
# tasks/, which do not import it; importing it here makes them known to every use of the package.
from denselora import (
    moved_modules,
    quickstart,  # noqa: F401  (imported for its registrations)
)
from denselora.errors import AdapterMismatchError, ConfigError, UserError
from denselora.methods.denselora import (
    DenseLoRAConfig,
    DenseLoRALinear,
    EncoderDecoder,
    ParameterReport,
    SharedEncoderDecoders,
    adapted_layers,
    apply_denselora,
    disable_adapters,
    enable_adapters,
    find_targets,
    get_adapter_params,
    get_adapter_state_dict,
    get_shared,
    has_denselora,
    load_adapter,
    merge_adapters,
    parameter_report,
    save_adapter,
    unmerge_adapters,
)
from denselora.version import __version__

moved_modules.install()

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
