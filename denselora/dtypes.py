"""The weight dtypes a config may name, by name."""

import torch

__all__ = ["DTYPES"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "float64": torch.float64}
