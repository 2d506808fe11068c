"""The one count of trainable and total parameters: DenseLoRA's report, the PEFT baselines' summary and the run's
``parameters.json`` all read it."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

__all__ = ["ParameterCount", "count_parameters"]


@dataclass(frozen=True)
class ParameterCount:
    """How many parameters a model trains, of how many.

    Attributes:
        trainable: parameters with ``requires_grad``.
        total: all parameters of the model, adapters included.
    """

    trainable: int
    total: int

    @property
    def percent(self) -> float:
        """Trainable parameters as a percentage of all parameters, the "Params (%)" column of the paper's tables."""
        return 100.0 * self.trainable / self.total if self.total else 0.0

    def __str__(self) -> str:
        return f"{self.trainable:,} trainable of {self.total:,} parameters ({self.percent:.4g} %)"


def count_parameters(model: nn.Module) -> ParameterCount:
    """Count ``model.parameters()`` (each tensor once, so a shared encoder/decoder pair once; meta device works)."""
    params = list(model.parameters())
    return ParameterCount(
        trainable=sum(p.numel() for p in params if p.requires_grad),
        total=sum(p.numel() for p in params),
    )
