"""Resuming a run with other settings: says what changed, refuses what would train on other data, and applies
a new learning rate or weight decay on purpose."""

from __future__ import annotations

import os
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info

from denselora.data.protocol import ResumableData
from denselora.errors import ConfigError
from denselora.training.schedule import LearningRateSchedule

__all__ = ["ResumeCheck"]

#: Settings that decide which examples a step sees, in which order and how they are tokenized: a resumed run
#: that changes one no longer continues the run it started from. (A moved data folder is announced, not refused:
#: the record count and the file names still have to match.)
DATA_SETTINGS = (
    "data.train_file", "data.train_fraction", "data.val_size", "data.cutoff_len",
    "data.train_on_inputs", "data.template", "data.tokenizer", "data.group_by_length", "data.seed",
    "training records", "training and validation tokens (sha256)", "global micro-batch",
    "trainer.accumulate_grad_batches", "seed_everything",
)  # fmt: skip

#: Settings a user may change on purpose; the saved optimizer state would silently keep the old ones.
OPTIMIZER_SETTINGS = ("model.learning_rate", "model.weight_decay")


class ResumeCheck(Callback):
    """Compares the settings a checkpoint was trained with against those of the run resuming from it.

    The settings are saved with every checkpoint (as this callback's state). At resume:

    - a change to what the steps train on (the training file, its split, tokenization, batch size, sampler,
      seeds: :data:`DATA_SETTINGS`) stops the run with one message listing each change, because the run would
      no longer continue as the uninterrupted one; ``allow_changed_data=True`` continues anyway, announced;
    - a new learning rate or weight decay is applied (the optimizer state in the checkpoint would otherwise keep
      the old value without a word) and announced: the schedule goes on from the saved step at the new peak;
    - any other change of the schedule (warm-up, ``max_steps``, ``max_epochs``) is announced.

    Args:
        allow_changed_data: resume even when the training data or its order changed.
    """

    def __init__(self, allow_changed_data: bool = False) -> None:
        self.allow_changed_data = allow_changed_data
        self._saved: dict[str, Any] | None = None
        self._current: dict[str, Any] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._current = run_settings(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"settings": self._current}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._saved = state_dict.get("settings")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        saved, self._saved = self._saved, None
        if not saved:  # a fresh run, or a checkpoint from before settings were saved
            return
        self._current = run_settings(trainer, pl_module)
        changed = {key: (saved[key], value) for key, value in self._current.items() if saved.get(key, value) != value}
        if not changed:
            return
        lines = [f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items()]
        data = [line for line, key in zip(lines, changed, strict=True) if key in DATA_SETTINGS]
        if data and not self.allow_changed_data:
            raise ConfigError(
                f"resuming from optimizer step {trainer.global_step} with settings that change what the run trains "
                f"on: {'; '.join(data)}. It would not continue the run it started. Resume with the checkpoint's "
                "values, or add --resume.allow_changed_data true to go on anyway"
            )
        for key in OPTIMIZER_SETTINGS:
            if key in changed:
                _apply(trainer, key.split(".")[1], *changed[key])
        applied = " (the new values apply from this step on)" if set(changed) & set(OPTIMIZER_SETTINGS) else ""
        rank_zero_info(
            f"resuming from optimizer step {trainer.global_step} with changed settings: {'; '.join(lines)}{applied}"
        )


def run_settings(trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
    """The settings a resume compares, as far as this trainer, module and data module have them."""
    datamodule = getattr(trainer, "datamodule", None)
    settings: dict[str, Any] = {
        "seed_everything": os.environ.get("PL_GLOBAL_SEED"),
        "trainer.accumulate_grad_batches": trainer.accumulate_grad_batches,
        "trainer.max_steps": trainer.max_steps,
        "trainer.max_epochs": trainer.max_epochs,
    }
    for name in ("learning_rate", "weight_decay", "warmup_steps"):
        if hasattr(pl_module, name):
            settings[f"model.{name}"] = getattr(pl_module, name)
    if isinstance(datamodule, ResumableData):
        settings.update(datamodule.resume_settings())
    return settings


def _apply(trainer: L.Trainer, name: str, old: float, new: float) -> None:
    """Set a new learning rate or weight decay in the restored optimizer, keeping the schedule's position.

    A new learning rate is the first group's new peak; the other groups keep their ratio to it (a group that
    :class:`~denselora.callbacks.FreezeEncoderDecoder` added at ``lr_factor`` times the peak stays at that factor).
    """
    if name == "weight_decay":
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                if group.get("weight_decay") == old:
                    group["weight_decay"] = new
        return
    schedules = [c.scheduler for c in trainer.lr_scheduler_configs if isinstance(c.scheduler, LearningRateSchedule)]
    for schedule in schedules:
        schedule.set_peak(new)
    scheduled = {id(schedule.optimizer) for schedule in schedules}
    for optimizer in trainer.optimizers:  # an optimizer without a schedule: its rates scale with the peak
        if id(optimizer) not in scheduled:
            for group in optimizer.param_groups:
                group["lr"] *= new / old
                if "initial_lr" in group:
                    group["initial_lr"] *= new / old
