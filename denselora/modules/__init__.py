"""The DenseLoRA building blocks: the shared encoder/decoder, the adapted linear layer, the update itself."""

from denselora.modules.adapter import AdapterModule, get_adapter_params, set_trainable_params
from denselora.modules.functional import denselora_delta
from denselora.modules.linear import DenseLoRALinear
from denselora.modules.shared import EncoderDecoder, SharedEncoderDecoders

__all__ = [
    "AdapterModule",
    "DenseLoRALinear",
    "EncoderDecoder",
    "SharedEncoderDecoders",
    "denselora_delta",
    "get_adapter_params",
    "set_trainable_params",
]
