"""Stopping a run whose training loss is no longer finite, before that loss changes anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from denselora.errors import TrainingDivergedError

__all__ = ["DivergenceStop"]


class DivergenceStop(Callback):
    """Raises :class:`~denselora.errors.TrainingDivergedError` when a micro-batch's loss is NaN or infinite.

    The check runs just before backward, so neither the gradients nor the weights, nor any checkpoint written
    afterwards, hold what that loss would have done; the message says which checkpoints are intact. Under
    several processes the ranks decide together: a rank that stopped alone would leave the others waiting in
    the gradient all-reduce. :class:`~denselora.training.FineTuner` adds it to every run.
    """

    def __init__(self) -> None:
        self._batch_idx = 0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_idx = batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> None:
        if trainer.strategy.reduce_boolean_decision(bool(loss.isfinite()), all=True):
            return
        # ``loss`` is divided by the accumulation: scaled back, it is the loss the step logs.
        value = loss.item() * trainer.accumulate_grad_batches
        folder = getattr(trainer.checkpoint_callback, "dirpath", None)
        written = sorted(Path(folder).glob("*.ckpt")) if folder and Path(folder).is_dir() else []
        if written:
            kept = (
                f"The checkpoints written so far are intact ({', '.join(p.name for p in written)} in {folder}); lower "
                "model.learning_rate, raise warmup_steps, or look for bad records, then resume with --ckpt_path"
            )
        else:
            kept = (
                "No checkpoint was written yet, so there is nothing to resume: lower model.learning_rate, raise "
                "warmup_steps, or look for bad records, and start again"
            )
        raise TrainingDivergedError(
            f"the training loss is {value} at optimizer step {trainer.global_step} (epoch {trainer.current_epoch}, "
            f"batch {self._batch_idx}); training stopped before this step changed anything. {kept}"
        )
