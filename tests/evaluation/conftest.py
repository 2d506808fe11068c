"""Tiny random LLaMA models sized for the built-in tokenizer; nothing is downloaded."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM

from tests.conftest import tiny_llama_config

# One definition of the shared fixtures, in tests/data/conftest.py.
from tests.data.conftest import datasets_cache, quickstart_root, shared_data, tiny_tokenizer  # noqa: F401


def build_model(tokenizer, seed: int = 0, pad_token_id: int | None = None) -> LlamaForCausalLM:
    """A 2-layer LLaMA (hidden 64) with random weights, vocabulary matching ``tokenizer``."""
    torch.manual_seed(seed)
    config = tiny_llama_config(
        vocab_size=len(tokenizer),
        intermediate_size=128,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if pad_token_id is None else pad_token_id,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tiny_model(tiny_tokenizer):  # noqa: F811  (the fixture imported above)
    return build_model(tiny_tokenizer)
