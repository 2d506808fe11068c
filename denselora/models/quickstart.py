"""The quickstart's base: a tiny LLaMA the project trains offline on first use (see :mod:`denselora.quickstart`)."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from denselora.models.source import BaseModelSource, meta_model_from_config

__all__ = ["QuickstartBase"]


class QuickstartBase(BaseModelSource):
    """The cached quickstart base (``model.pretrained: denselora/quickstart-base``), built in :meth:`prepare`."""

    def prepare(self) -> None:
        from denselora.quickstart import ensure_quickstart_base

        ensure_quickstart_base()  # built once here (one process per node), then loaded by every rank

    def build(self, dtype: torch.dtype | None, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        from denselora.quickstart import load_quickstart_base

        return load_quickstart_base(dtype)

    def skeleton(self, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        from transformers import AutoConfig

        from denselora.quickstart import QUICKSTART_BASE_CONFIG

        return meta_model_from_config(AutoConfig.for_model(**QUICKSTART_BASE_CONFIG, vocab_size=len(tokenizer)))

    def describe(self) -> str:
        from denselora.quickstart import QUICKSTART_BASE

        return QUICKSTART_BASE
