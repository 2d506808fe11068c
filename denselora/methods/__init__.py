"""The fine-tuning methods the trainer can fine-tune with, chosen in YAML by ``class_path``."""

from denselora.methods.base import AdapterMethod
from denselora.methods.denselora.method import DenseLoRA
from denselora.methods.peft import DoRA, LoRA, PeftMethod, VeRA
from denselora.methods.registry import display_name, find_tracked_matrices, register_method, registered_methods

__all__ = [
    "AdapterMethod",
    "DenseLoRA",
    "DoRA",
    "LoRA",
    "PeftMethod",
    "VeRA",
    "display_name",
    "find_tracked_matrices",
    "register_method",
    "registered_methods",
]
