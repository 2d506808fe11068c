"""Adapter methods the trainer can fine-tune with, chosen in YAML by ``class_path``."""

from denselora.adapters.base import Adapter
from denselora.adapters.denselora import DenseLoRA
from denselora.adapters.peft_baselines import DoRA, LoRA, PeftAdapter, VeRA

__all__ = ["Adapter", "DenseLoRA", "DoRA", "LoRA", "PeftAdapter", "VeRA"]
