"""What the trainer needs from a base model source, so the frozen base is a component chosen in YAML."""

from __future__ import annotations

import abc

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

__all__ = ["BaseModelSource", "meta_model_from_config"]


class BaseModelSource(abc.ABC):
    """Where the frozen base model comes from (``model.init_args.base`` in YAML, chosen by ``class_path``).

    A source builds the base twice over: :meth:`skeleton` on the meta device, so that a bad adapter setting is
    caught in a second before any weight loads, and :meth:`build` with its weights. Work that must happen once
    per machine before any process loads (a conversion, a build, a download) goes in :meth:`prepare`, which
    the trainer calls from ``prepare_data`` (one process per node).

    Subclass it for a new kind of base; nothing in :class:`~denselora.training.FineTuner` changes.
    """

    def prepare(self) -> None:  # noqa: B027 (optional hook: most sources have nothing to prepare)
        """Make the weights loadable (called once per node before :meth:`build`); nothing by default."""

    @abc.abstractmethod
    def build(self, dtype: torch.dtype | None, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        """The base model with its weights, in ``dtype`` (``None``: the source's own, float32 for most).

        Args:
            dtype: the dtype of the frozen weights.
            tokenizer: the run's tokenizer (a source built from a config takes its vocabulary size from it).
        """

    @abc.abstractmethod
    def skeleton(self, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        """The same architecture on the meta device: no weights, no memory, built in milliseconds."""

    def tokenizer_spec(self) -> str | None:
        """The tokenizer that goes with this base, as :func:`~denselora.models.load_tokenizer` takes it, so that a
        config names the base once; ``None`` when it has none of its own (a model built from a config)."""
        return None

    @abc.abstractmethod
    def describe(self) -> str:
        """One line naming the base, for messages and run records."""


def meta_model_from_config(config) -> nn.Module:
    """A causal LM of ``config`` on the meta device."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)
