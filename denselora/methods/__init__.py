"""The fine-tuning methods the trainer can fine-tune with, chosen in YAML by ``class_path``."""

from denselora.methods.base import AdapterMethod
from denselora.methods.denselora import DenseLoRA
from denselora.methods.peft import DoRA, LoRA, PeftMethod, VeRA

__all__ = ["AdapterMethod", "DenseLoRA", "DoRA", "LoRA", "PeftMethod", "VeRA"]
