"""What the trainer needs from an adapter method, so DenseLoRA and the PEFT baselines run under one trainer."""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from pathlib import Path

from torch import Tensor, nn

from denselora.analysis.tracked import TrackedMatrix

__all__ = ["AdapterMethod"]


class AdapterMethod(abc.ABC):
    """An adapter method chosen in YAML by ``class_path``; subclasses hold the method's hyperparameters.

    The trainer calls :meth:`apply` once on the freshly loaded base model and trains whatever requires
    gradients afterwards; checkpoints hold :meth:`adapter_tensors` only, never the frozen base.
    """

    #: Short name used in checkpoints, ``parameters.json`` and update-density snapshots.
    method: str = "adapter"
    #: How figures and dashboards write the method's name.
    display_name: str = "adapter"
    #: Fields of the recorded config that only concern training (dropout, how the forward is computed,
    #: initialisation, dtype): they change neither the tensors' shapes nor what they compute, so a checkpoint
    #: that differs in them is still tested or predicted from. A resumed fit must keep them.
    training_fields: frozenset[str] = frozenset()

    @property
    def rank(self) -> int | None:
        """The method's rank ``r``, recorded in ``parameters.json`` and the report; ``None`` if it has none."""
        return None

    def tracked_matrices(
        self,
        model: nn.Module,
        layers: Sequence[int] | None = (0,),
        targets: Sequence[str] | None = None,
        seed: int = 0,
    ) -> list[TrackedMatrix]:
        """The matrices of ``model``'s adapter whose updates the update-density dashboard watches (see
        :func:`denselora.analysis.watched_layers` for ``layers`` and ``targets``; ``seed`` places windows of
        matrices larger than ``r x r``). None by default: a method that has no such matrix logs nothing."""
        return []

    def shared_modules(self, model: nn.Module) -> nn.Module | None:
        """The module holding the tensors that every adapted layer shares, owned once by the model (DenseLoRA's
        encoder/decoder pairs), for callbacks that freeze them; ``None`` for a method without shared tensors."""
        return None

    @abc.abstractmethod
    def apply(self, model: nn.Module) -> nn.Module:
        """Adapt ``model`` (freezing its base) and return the module to train."""

    @abc.abstractmethod
    def adapter_tensors(self, model: nn.Module) -> dict[str, Tensor]:
        """The adapter's tensors (trainable or not), keyed as in ``model.state_dict()``, each tensor once."""

    @abc.abstractmethod
    def export(self, model: nn.Module, directory: str | os.PathLike, state: dict[str, Tensor] | None = None) -> Path:
        """Write the adapter in its library's own format (loadable without this trainer's checkpoints).

        Args:
            model: the adapted model.
            directory: where to write.
            state: the adapter tensors to write, as :meth:`adapter_tensors` keys them (default: read from ``model``;
                give them when ``model`` is sharded and they were gathered).
        """

    @abc.abstractmethod
    def load(self, model: nn.Module, directory: str | os.PathLike) -> nn.Module:
        """Adapt a fresh base ``model`` with an adapter written by :meth:`export` and return the module."""

    @abc.abstractmethod
    def summary(self, model: nn.Module) -> str:
        """A human-readable parameter table: trainable / total / %, and LoRA's count at the same rank."""

    def metadata(self, model: nn.Module) -> dict:
        """What a checkpoint records to refuse loading into a model this adapter does not fit."""
        return {
            "method": self.method,
            "tensors": {name: list(t.shape) for name, t in self.adapter_tensors(model).items()},
        }
