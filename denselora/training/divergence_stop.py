"""Stopping a run whose training loss is no longer finite, before anything after that loss is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from denselora.errors import TrainingDivergedError
from denselora.training.telemetry import writes_logs_at

__all__ = ["DivergenceStop"]


class DivergenceStop(Callback):
    """Raises :class:`~denselora.errors.TrainingDivergedError` when a micro-batch's loss is NaN or infinite, before
    anything trained on that loss, or after it, is written.

    Each loss is checked on the device, just before its backward: whether it is finite is folded into a flag
    kept there, with the loss and the position of the first that was not, so that no training step makes the
    host wait for the device. The flag is read back where something would be written, or where Lightning reads
    values back anyway:

    - at the end of each optimizer step after which Lightning writes the logs (every ``log_every_n_steps``), and
      of the step before it (``LearningRateMonitor`` writes at the start of the next);
    - before every checkpoint is written (``on_save_checkpoint``: the best, ``last.ckpt``, one of your own),
      before validation, at the end of each epoch and of training (before the adapter is exported).

    So no checkpoint, log, validation or adapter holds the non-finite loss or anything trained after it; those
    written before it are intact, and the message names the optimizer step, epoch and batch of that loss and the
    checkpoints to resume from. The steps between that loss and the read (at most ``log_every_n_steps``) still
    ran, and left the weights in memory unusable: resume from a checkpoint.

    Under several processes the ranks decide together at each read (one all-reduce): a rank that stopped alone
    would leave the others waiting in the next collective. :class:`~denselora.training.FineTuner` adds it to
    every run.
    """

    def __init__(self) -> None:
        self._batch_idx = 0
        self._step_at_batch_start = -1
        # (optimizer step, epoch, batch) of each loss checked since the last read.
        self._checked: list[tuple[int, int, int]] = []
        # On the device: whether a loss since the last read was not finite, the first such loss, and its
        # position in ``_checked``.
        self._not_finite: Tensor | None = None
        self._first_value: Tensor | None = None
        self._first_index: Tensor | None = None

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_idx = batch_idx
        self._step_at_batch_start = trainer.global_step

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> None:
        loss = loss.detach()
        if self._not_finite is None:
            self._not_finite = torch.zeros((), dtype=torch.bool, device=loss.device)
            self._first_value = torch.zeros((), dtype=torch.float32, device=loss.device)
            self._first_index = torch.zeros((), dtype=torch.float32, device=loss.device)
        bad = ~torch.isfinite(loss)
        first = bad & ~self._not_finite
        # ``loss`` is divided by the accumulation: scaled back, it is the loss the step logs.
        self._first_value = torch.where(first, loss.float() * trainer.accumulate_grad_batches, self._first_value)
        self._first_index = torch.where(first, float(len(self._checked)), self._first_index)
        self._not_finite = self._not_finite | bad
        self._checked.append((trainer.global_step, trainer.current_epoch, self._batch_idx))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        if step == self._step_at_batch_start:  # inside a gradient accumulation window: no optimizer step yet
            return
        if trainer.should_stop or writes_logs_at(trainer, step) or writes_logs_at(trainer, step + 1):
            self._read(trainer)

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self._read(trainer)  # the file is written after the hooks

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._read(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._read(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._read(trainer)

    def _read(self, trainer: L.Trainer) -> None:
        """Raise if a loss checked since the last read was not finite on any rank: one read back from the device,
        and under several processes one all-reduce, which every rank makes at the same points."""
        if not self._checked:
            return
        not_finite, value, index = torch.stack(
            [self._not_finite.float(), self._first_value, self._first_index]
        ).tolist()
        checked, self._checked = self._checked, []
        if not trainer.strategy.reduce_boolean_decision(bool(not_finite), all=False):
            return
        if not_finite:
            step, epoch, batch_idx = checked[int(index)]
            what = f"the training loss is {value} at optimizer step {step} (epoch {epoch}, batch {batch_idx})"
        else:
            what = f"the training loss of another process was not finite before optimizer step {trainer.global_step}"
        raise TrainingDivergedError(
            f"{what}; training stopped before anything trained on it or after it was written. {_kept(trainer)}"
        )


def _kept(trainer: L.Trainer) -> str:
    folder = getattr(trainer.checkpoint_callback, "dirpath", None)
    written = sorted(Path(folder).glob("*.ckpt")) if folder and Path(folder).is_dir() else []
    if written:
        return (
            f"The checkpoints written so far are intact ({', '.join(p.name for p in written)} in {folder}); lower "
            "model.learning_rate, raise warmup_steps, or look for bad records, then resume with --ckpt_path"
        )
    return (
        "No checkpoint was written yet, so there is nothing to resume: lower model.learning_rate, raise "
        "warmup_steps, or look for bad records, and start again"
    )
