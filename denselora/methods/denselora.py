"""DenseLoRA as an adapter choice of the trainer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from denselora.adapter.config import DenseLoRAConfig
from denselora.adapter.inject import apply_denselora
from denselora.adapter.parameters import parameter_report
from denselora.adapter.saving import adapter_metadata, get_adapter_state_dict, load_adapter, save_adapter
from denselora.methods.base import AdapterMethod

__all__ = ["DenseLoRA"]


@dataclass
class DenseLoRA(DenseLoRAConfig, AdapterMethod):
    """DenseLoRA (ours). Every field of :class:`denselora.DenseLoRAConfig` is a YAML ``init_args`` key."""

    method = "denselora"
    training_fields = frozenset({"dropout", "dropout_sites", "fused", "train_encoder_decoder", "dtype"})

    @property
    def rank(self) -> int:
        return self.r

    def apply(self, model: nn.Module) -> nn.Module:
        return apply_denselora(model, self.config())

    def config(self) -> DenseLoRAConfig:
        return DenseLoRAConfig(**self.to_dict())

    def adapter_tensors(self, model: nn.Module) -> dict[str, Tensor]:
        return get_adapter_state_dict(model)

    def export(self, model: nn.Module, directory: str | os.PathLike, state: dict[str, Tensor] | None = None) -> Path:
        return save_adapter(model, directory, tensors=state)

    def load(self, model: nn.Module, directory: str | os.PathLike) -> nn.Module:
        return load_adapter(model, directory)

    def summary(self, model: nn.Module) -> str:
        return str(parameter_report(model))

    def metadata(self, model: nn.Module) -> dict:
        saved = adapter_metadata(model)
        return {"method": self.method, "config": saved["config"], "layers": saved["layers"]}
