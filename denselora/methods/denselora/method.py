"""DenseLoRA as an adapter choice of the trainer."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from denselora.analysis.tracked import TrackedMatrix, watched_layers
from denselora.methods.base import AdapterMethod
from denselora.methods.denselora.config import DenseLoRAConfig
from denselora.methods.denselora.inject import apply_denselora, get_shared
from denselora.methods.denselora.layer import DenseLoRALinear
from denselora.methods.denselora.parameter_report import parameter_report
from denselora.methods.denselora.saving import adapter_metadata, get_adapter_state_dict, load_adapter, save_adapter
from denselora.methods.registry import register_method

__all__ = ["DenseLoRA"]


@register_method
@dataclass
class DenseLoRA(DenseLoRAConfig, AdapterMethod):
    """DenseLoRA (ours). Every field of :class:`denselora.DenseLoRAConfig` is a YAML ``init_args`` key."""

    method = "denselora"
    display_name = "DenseLoRA"
    training_fields = frozenset({"dropout", "dropout_sites", "fused", "train_encoder_decoder", "dtype"})

    @property
    def rank(self) -> int:
        return self.r

    def apply(self, model: nn.Module) -> nn.Module:
        return apply_denselora(model, self.config())

    def tracked_matrices(
        self,
        model: nn.Module,
        layers: Sequence[int] | None = (0,),
        targets: Sequence[str] | None = None,
        seed: int = 0,
    ) -> list[TrackedMatrix]:
        """Each watched layer's whole ``M`` (``r x r``)."""
        return [
            TrackedMatrix(layer, target, "M", self.method, (0, module.r), (0, module.r), module.M)
            for layer, target, module in watched_layers(model, DenseLoRALinear, layers, targets)
        ]

    def shared_modules(self, model: nn.Module) -> nn.Module | None:
        try:
            return get_shared(model)
        except ValueError:  # not adapted by DenseLoRA
            return None

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
