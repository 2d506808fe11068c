"""DenseLoRA: dense low-rank adaptation of large language models, with PyTorch Lightning."""

from denselora.config import DenseLoRAConfig

__all__ = ["DenseLoRAConfig"]
__version__ = "0.1.0"
