"""Keeps ``last.ckpt`` current: the state to resume from, whatever validation said, and when the run is stopped."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info

from denselora.errors import ConfigError
from denselora.run_layout import CHECKPOINTS_DIR, LAST_CHECKPOINT_FILE
from denselora.training.atomic_checkpoint_io import remove_stale_partials

__all__ = ["LatestCheckpoint", "Preempted"]

#: The signals that ask a run to stop: a scheduler's preemption (SLURM, Kubernetes, cloud spot instances all
#: send SIGTERM first) and Ctrl-C.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Preempted(SystemExit):
    """Training stopped on a signal after writing ``last.ckpt``; the exit code is ``128 + signal``, as a shell
    reports a process ended by that signal, so a scheduler sees the job as interrupted, not finished."""

    def __init__(self, signum: int, step: int, path: Path) -> None:
        super().__init__(128 + signum)
        self.signum, self.step, self.path = signum, step, path


class LatestCheckpoint(Callback):
    """Writes the latest training state to ``<checkpoints>/last.ckpt`` every few optimizer steps, after every
    validation, when training ends, and when the process is asked to stop.

    Lightning's ``ModelCheckpoint(save_last=True)`` refreshes ``last.ckpt`` only when it saves a top-k
    checkpoint, so after a validation that did not improve, a crash would lose every step since the last
    improvement. That a kill during a write leaves the previous file whole is the checkpoint IO's part
    (:class:`denselora.training.atomic_checkpoint_io.AtomicCheckpointIO`, the command line's default).

    On SIGTERM or SIGINT during training, the run finishes the optimizer step it is in (the rest of a gradient
    accumulation window included, so nothing half-accumulated is lost), writes ``last.ckpt`` and raises
    :class:`Preempted`; ``--ckpt_path last.ckpt`` then continues exactly where it stopped. (Lightning's own
    handler would end the process with exit code 0 and save nothing.) A second signal stops at once. In a
    distributed run the ranks agree at every optimizer step whether any of them was signalled, so they stop at
    the same step.

    Args:
        every_n_train_steps: optimizer steps between writes (0: only after validation, at the end and on a stop
            signal).
        filename: the file name inside the checkpoint directory.
    """

    def __init__(self, every_n_train_steps: int = 50, filename: str = LAST_CHECKPOINT_FILE) -> None:
        if every_n_train_steps < 0:
            raise ConfigError(
                f"latest_checkpoint.every_n_train_steps must be >= 0 (0: only after validation, at the end and on a "
                f"stop), got {every_n_train_steps}"
            )
        self.every_n_train_steps = every_n_train_steps
        self.filename = filename
        self._saved_at_step = -1
        self._step_seen = -1
        self._signalled: int | None = None
        self._previous_handlers: dict[int, object] = {}

    def checkpoint_path(self, trainer: L.Trainer) -> Path:
        callback = trainer.checkpoint_callback
        if callback is not None and getattr(callback, "dirpath", None):
            return Path(callback.dirpath) / self.filename
        return Path(trainer.log_dir or trainer.default_root_dir) / CHECKPOINTS_DIR / self.filename

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        # A process killed while saving leaves its temporary file beside the checkpoints (the previous file is
        # whole): clear those of dead processes, here and where the run resumes from.
        folders = {self.checkpoint_path(trainer).parent}
        if trainer.ckpt_path:
            folders.add(Path(trainer.ckpt_path).parent)
        for folder in folders:
            for path in remove_stale_partials(folder):
                rank_zero_info(f"removed {path}, a checkpoint that a stopped process had not finished writing")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._step_seen = trainer.global_step
        self._signalled = None
        # After Lightning's own handlers, which are registered when the run starts, so ours take their place.
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous_handlers[signum] = signal.signal(signum, self._on_stop_signal)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        step = trainer.global_step
        if step == self._step_seen:  # inside a gradient accumulation window: no optimizer step yet
            return
        self._step_seen = step
        if self._stop_requested(trainer):
            self._save(trainer)
            path = self.checkpoint_path(trainer)
            signum = self._signalled or signal.SIGTERM  # another rank's signal
            rank_zero_info(
                f"stopped by {signal.Signals(signum).name} after optimizer step {step}; the run's state is in "
                f"{path}: continue it with --ckpt_path {path}"
            )
            raise Preempted(signum, step, path)
        if self.every_n_train_steps and step % self.every_n_train_steps == 0:
            self._save(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking:
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_handlers()
        self._save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_handlers()

    def _on_stop_signal(self, signum: int, frame) -> None:
        if self._signalled is not None:  # the second signal: stop now, as without this callback
            self._restore_handlers()
            signal.raise_signal(signum)
            return
        self._signalled = signum
        rank_zero_info(f"{signal.Signals(signum).name} received: stopping after this optimizer step")

    def _stop_requested(self, trainer: L.Trainer) -> bool:
        if trainer.world_size > 1:
            return trainer.strategy.reduce_boolean_decision(self._signalled is not None, all=False)
        return self._signalled is not None

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.global_step == self._saved_at_step or trainer.fast_dev_run:
            return
        # A full checkpoint (optimizer, loops, callbacks): what a resume needs. Saying so also keeps Lightning
        # from announcing the default on every save.
        trainer.save_checkpoint(self.checkpoint_path(trainer), weights_only=False)
        self._saved_at_step = trainer.global_step
