"""A randomly initialised base built from a config, offline: tiny models for tests and experiments."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from denselora.errors import ConfigError
from denselora.models.source import BaseModelSource, meta_model_from_config

__all__ = ["ConfigModel"]


class ConfigModel(BaseModelSource):
    """``AutoModelForCausalLM.from_config`` with random weights (seeded by the run's seed).

    Args:
        config: ``model_type`` (e.g. ``llama``) plus the config's fields; ``vocab_size`` defaults to the
            tokenizer's size.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        if "model_type" not in config:
            raise ConfigError("a model config needs a 'model_type' (e.g. 'llama') beside the config's fields")
        self.config = dict(config)

    def _config(self, tokenizer: PreTrainedTokenizerBase):
        from transformers import AutoConfig

        values = dict(self.config)
        vocab = len(tokenizer)
        values.setdefault("vocab_size", vocab)
        if values["vocab_size"] < vocab:
            raise ConfigError(
                f"model.model_config.vocab_size={values['vocab_size']} is smaller than the tokenizer's {vocab} "
                "tokens; raise it or leave it out to follow the tokenizer"
            )
        return AutoConfig.for_model(**values)

    def build(self, dtype: torch.dtype | None, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_config(self._config(tokenizer))
        return model.to(dtype) if dtype else model

    def skeleton(self, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        return meta_model_from_config(self._config(tokenizer))

    def describe(self) -> str:
        return f"random {self.config['model_type']} from a config"
