"""Fixtures of the DenseLoRA tests that run on a GPU where there is one."""

import pytest
import torch


@pytest.fixture
def full_float32_products():
    """Full float32 products on a GPU: TF32's 10-bit mantissa would hide a wrong formula behind its own error."""
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = previous
