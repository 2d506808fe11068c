"""Resuming a run with other settings: says what changed, refuses what would train on other data, and applies
a new learning rate or weight decay on purpose."""

from __future__ import annotations

import os
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from torch.optim.lr_scheduler import LambdaLR

from denselora.errors import ConfigError

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
    data_attributes = {
        "data.train_file": "train_file", "data.data_dir": "data_dir", "data.train_fraction": "train_fraction",
        "data.val_size": "val_size", "data.cutoff_len": "cutoff_len", "data.train_on_inputs": "train_on_inputs",
        "data.template": "template", "data.tokenizer": "tokenizer_spec", "data.group_by_length": "group_by_length",
        "data.seed": "seed",
    }  # fmt: skip
    for key, attribute in data_attributes.items():
        if hasattr(datamodule, attribute):
            value = getattr(datamodule, attribute)
            settings[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    if getattr(datamodule, "micro_batch_size", None) is not None:
        settings["global micro-batch"] = datamodule.micro_batch_size * trainer.world_size
    train_dataset = getattr(datamodule, "train_dataset", None)
    if train_dataset is not None:
        settings["training records"] = len(train_dataset)
    fingerprint = getattr(datamodule, "token_fingerprint", None)
    if callable(fingerprint):
        # A training file edited in place keeps its path and perhaps its count; its tokens change.
        settings["training and validation tokens (sha256)"] = fingerprint()
    return settings


def _apply(trainer: L.Trainer, name: str, old: float, new: float) -> None:
    """Set a new learning rate or weight decay in the restored optimizer, keeping the schedule's position."""
    schedulers = [config.scheduler for config in trainer.lr_scheduler_configs]
    for optimizer in trainer.optimizers:
        for index, group in enumerate(optimizer.param_groups):
            if name == "weight_decay":
                group["weight_decay"] = new if group.get("weight_decay") == old else group.get("weight_decay")
                continue
            group["initial_lr"] = new
            group["lr"] = new
            for scheduler in schedulers:
                if scheduler.optimizer is optimizer and isinstance(scheduler, LambdaLR):
                    # LambdaLR's learning rate is base_lr * factor(step); the factor stays, the base changes.
                    scheduler.base_lrs[index] = new
                    group["lr"] = new * scheduler.lr_lambdas[index](scheduler.last_epoch)
