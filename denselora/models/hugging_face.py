"""A base model from a Hugging Face name or a local model folder."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from denselora.errors import ConfigError
from denselora.models.source import BaseModelSource, meta_model_from_config

__all__ = ["HuggingFaceModel"]


class HuggingFaceModel(BaseModelSource):
    """``AutoModelForCausalLM.from_pretrained(name_or_path)``.

    Args:
        name_or_path: a Hugging Face model name (downloaded, or read from the local Hugging Face cache with
            ``HF_HUB_OFFLINE=1``) or a local folder written by ``save_pretrained``.
        revision: a branch, tag or commit of the hub repository (default: its main branch).
    """

    def __init__(self, name_or_path: str, revision: str | None = None) -> None:
        self.name_or_path = name_or_path
        self.revision = revision

    def prepare(self) -> None:
        # A local path that is not a model folder is named now, before its tokenizer (the base's own) is read.
        path = Path(self.name_or_path).expanduser()
        if (self.name_or_path.startswith((".", "/", "~")) or path.exists()) and not path.is_dir():
            raise ConfigError(describe_load_failure(self.name_or_path, FileNotFoundError(self.name_or_path)))

    def build(self, dtype: torch.dtype | None, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        from transformers import AutoModelForCausalLM

        try:
            return AutoModelForCausalLM.from_pretrained(self.name_or_path, dtype=dtype, **self._revision())
        except (OSError, ValueError) as err:  # not found locally, not on the hub, or no access
            raise ConfigError(describe_load_failure(self.name_or_path, err)) from None

    def skeleton(self, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(self.name_or_path, **self._revision())
        except (OSError, ValueError) as err:
            raise ConfigError(describe_load_failure(self.name_or_path, err)) from None
        return meta_model_from_config(config)

    def _revision(self) -> dict[str, str]:
        return {} if self.revision is None else {"revision": self.revision}

    def tokenizer_spec(self) -> str:
        return self.name_or_path

    def describe(self) -> str:
        return self.name_or_path + (f"@{self.revision}" if self.revision else "")


def describe_load_failure(pretrained: str, err: BaseException) -> str:
    path = Path(pretrained).expanduser()
    if pretrained.startswith((".", "/", "~")) or path.exists():
        if path.is_file():
            return (
                f"model.pretrained={pretrained!r} is a file, neither a model directory nor a .gguf file. Give a model "
                "directory (with config.json and the weights), a .gguf file or a Hugging Face name."
            )
        if not path.is_dir():
            return (
                f"model.pretrained={pretrained!r}: no such directory. Give a model directory, a .gguf file or a "
                "Hugging Face name."
            )
        return f"model.pretrained={pretrained!r} is not a loadable Hugging Face model directory: {err}"
    return (
        f"cannot load model.pretrained={pretrained!r} ({err}). Check the name, your access to it, and the network "
        "(or HF_HUB_OFFLINE with a local copy)."
    )
