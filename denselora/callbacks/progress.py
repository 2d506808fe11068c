"""Progress: bars that name the test set being evaluated and show the training loss, and plain lines where no
terminal is."""

from __future__ import annotations

import math
import sys
import time

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar

from denselora.step_progress import clock

__all__ = ["LineProgress", "NamedRichProgressBar", "NamedTQDMProgressBar", "named_progress_bar"]


class _NamesTestSets:
    """``test_description`` is read when a new test dataloader starts: name its set when the data module has
    ``eval_sets`` (the test sets, one per dataloader, in order)."""

    @property
    def test_description(self) -> str:
        name = _test_set_name(self)
        return f"Testing {name}" if name else "Testing"


class _ShowsTrainingLoss:
    """A bar shows Lightning's progress-bar metrics, which Lightning converts to numbers after every batch: a read
    back from the device at every step. The fine-tuner logs ``train/loss`` outside them, and the bar reads it
    from the callback metrics itself, at most every ``loss_every_seconds`` (on a CPU, where a step takes longer,
    at every step)."""

    loss_every_seconds = 1.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._loss: float | None = None
        self._loss_read = -math.inf

    def get_metrics(self, trainer, pl_module) -> dict:
        metrics = super().get_metrics(trainer, pl_module)
        now = time.monotonic()
        if trainer.training and now - self._loss_read >= self.loss_every_seconds:
            value = trainer.callback_metrics.get("train/loss")
            self._loss = None if value is None else float(value)
            self._loss_read = now
        if self._loss is not None and "train/loss" not in metrics:
            metrics["train/loss"] = self._loss
        return metrics


class NamedRichProgressBar(_NamesTestSets, _ShowsTrainingLoss, RichProgressBar):
    """Lightning's rich progress bar, with the test set's name in the test bar, the training loss, and a training
    description that reads right when ``max_steps`` bounds the run (Lightning's shows ``Epoch 0/-2`` for
    ``max_epochs=-1``)."""

    def _get_train_description(self, current_epoch: int) -> str:
        description = super()._get_train_description(current_epoch)
        max_epochs, max_steps = self.trainer.max_epochs, self.trainer.max_steps
        if max_epochs is None or max_epochs >= 0:
            return description
        width = len(description)
        # Set when an epoch starts, not redrawn per step: the bound, not the step, which the bar itself counts.
        description = f"Epoch {current_epoch}" + (f" (until step {max_steps})" if max_steps > 0 else "")
        return f"{description:{width}}"


class NamedTQDMProgressBar(_NamesTestSets, _ShowsTrainingLoss, TQDMProgressBar):
    """Lightning's tqdm progress bar, with the test set's name in the test bar and the training loss."""


def named_progress_bar(default: ProgressBar, terminal: bool = True) -> ProgressBar:
    """The named counterpart of a default Lightning progress bar (``default`` itself for any other kind); without
    a ``terminal``, :class:`LineProgress` instead of a bar."""
    if not terminal and type(default) in (RichProgressBar, TQDMProgressBar):
        return LineProgress()
    if type(default) is RichProgressBar:
        return NamedRichProgressBar()
    if type(default) is TQDMProgressBar:
        return NamedTQDMProgressBar()
    return default


def _test_set_name(bar: ProgressBar) -> str | None:
    index = getattr(bar, "_current_eval_dataloader_idx", None)
    trainer = getattr(bar, "_trainer", None)
    eval_sets = getattr(getattr(trainer, "datamodule", None), "eval_sets", None)
    if index is None or not eval_sets or index >= len(eval_sets):
        return None
    return getattr(eval_sets[index], "name", None)


class LineProgress(ProgressBar):
    """Progress as plain lines, for output that is no terminal (a log file, ``nohup``, SLURM, CI).

    A progress bar redrawn in place writes nothing readable to a file until it ends. This writes one line to
    standard error when training starts, then at most every ``every_seconds`` and at the last step (optimizer step
    and its total, epoch, loss, tokens/s, time elapsed and an estimate of the time left); one per validation; one
    per test set when it is done. The command line uses it instead of a bar when standard error is no terminal.

    Args:
        every_seconds: the least time between two training lines.
    """

    def __init__(self, every_seconds: float = 30.0) -> None:
        super().__init__()
        self.every_seconds = every_seconds
        self._enabled = True
        self._started = 0.0
        self._last_line = 0.0
        self._first_step = 0
        self._test_index: int | None = None
        self._test_started = 0.0
        self._test_items = 0

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def _say(self, trainer, line: str) -> None:
        if self._enabled and trainer.is_global_zero:
            print(line, file=sys.stderr, flush=True)

    # ------------------------------------------------------------------------------------------- training
    def on_train_start(self, trainer, pl_module) -> None:
        self._started = self._last_line = time.monotonic()
        self._first_step = trainer.global_step
        self._say(trainer, f"training: {self._total_steps(trainer)} optimizer steps{self._from(trainer)}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        now = time.monotonic()
        step, total = trainer.global_step, self._total_steps(trainer)
        if now - self._last_line < self.every_seconds and step < total:
            return
        self._last_line = now
        elapsed = now - self._started
        parts = [f"step {step}/{total} (epoch {trainer.current_epoch})"]
        metrics = trainer.callback_metrics
        if "train/loss" in metrics:
            parts.append(f"loss {float(metrics['train/loss']):.4f}")
        if "train/tokens_per_sec" in metrics:
            parts.append(f"{float(metrics['train/tokens_per_sec']):,.0f} tokens/s")
        parts.append(f"{clock(elapsed)} elapsed")
        done = step - self._first_step
        if done > 0 and step < total:
            parts.append(f"~{clock(elapsed / done * (total - step))} left")
        self._say(trainer, " · ".join(parts))

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        shown = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1}
        values = " · ".join(f"{k} {v:.4f}" for k, v in sorted(shown.items()))
        self._say(trainer, f"validation at step {trainer.global_step}: {values or 'done'}")

    # ------------------------------------------------------------------------------------------------ test
    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if dataloader_idx != self._test_index:
            self._finish_test_set(trainer)
            self._test_index, self._test_started, self._test_items = dataloader_idx, time.monotonic(), 0

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._test_items += len(batch["input_ids"]) if isinstance(batch, dict) and "input_ids" in batch else 1

    def on_test_end(self, trainer, pl_module) -> None:
        self._finish_test_set(trainer)
        self._test_index = None

    def _finish_test_set(self, trainer) -> None:
        if self._test_index is None:
            return
        eval_sets = getattr(getattr(trainer, "datamodule", None), "eval_sets", None)
        index = self._test_index
        name = eval_sets[index].name if eval_sets and index < len(eval_sets) else f"test set {index}"
        seconds = time.monotonic() - self._test_started
        self._say(trainer, f"test {name}: {self._test_items} items on this process in {clock(seconds)}")

    # ------------------------------------------------------------------------------------------------ help
    @staticmethod
    def _total_steps(trainer) -> int:
        return trainer.max_steps if trainer.max_steps > 0 else int(trainer.estimated_stepping_batches)

    @staticmethod
    def _from(trainer) -> str:
        return f", from step {trainer.global_step} (resumed)" if trainer.global_step else ""
