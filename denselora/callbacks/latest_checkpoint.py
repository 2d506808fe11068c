"""Keeps ``last.ckpt`` current: the state to resume from, whatever validation said."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn

__all__ = ["LatestCheckpoint"]


class LatestCheckpoint(Callback):
    """Writes the latest training state to ``<checkpoints>/last.ckpt`` every few optimizer steps, after every
    validation and when training ends.

    Lightning's ``ModelCheckpoint(save_last=True)`` refreshes ``last.ckpt`` only when it saves a top-k
    checkpoint, so after a validation that did not improve, a crash would lose every step since the last
    improvement. That a kill during a write leaves the previous file whole is the checkpoint IO's part
    (:class:`denselora.training.checkpoint_io.AtomicCheckpointIO`, the command line's default).

    Args:
        every_n_train_steps: optimizer steps between writes (0: only after validation and at the end).
        filename: the file name inside the checkpoint directory.
    """

    def __init__(self, every_n_train_steps: int = 50, filename: str = "last.ckpt") -> None:
        if every_n_train_steps < 0:
            raise ValueError(f"every_n_train_steps must be >= 0, got {every_n_train_steps}")
        self.every_n_train_steps = every_n_train_steps
        self.filename = filename
        self._saved_at_step = -1

    def checkpoint_path(self, trainer: L.Trainer) -> Path:
        callback = trainer.checkpoint_callback
        if callback is not None and getattr(callback, "dirpath", None):
            return Path(callback.dirpath) / self.filename
        return Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints" / self.filename

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        step = trainer.global_step
        if self.every_n_train_steps and step and step % self.every_n_train_steps == 0:
            self._save(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.global_step == self._saved_at_step or trainer.fast_dev_run:
            return
        trainer.save_checkpoint(self.checkpoint_path(trainer))
        self._saved_at_step = trainer.global_step
