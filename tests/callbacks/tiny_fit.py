"""Fitting the tiny model with a plain ``Trainer``, for callback tests that need the live module afterwards."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from denselora.methods import DenseLoRA
from denselora.quickstart.datamodule import QuickstartDataModule
from denselora.training import FineTuner
from tests.training.cli_runs import TINY_MODEL


def tiny_fit(
    tmp_path: Path,
    callbacks: list,
    max_steps: int = 6,
    r: int = 4,
    train_size: int = 96,
    module: FineTuner | None = None,
    **trainer_kwargs,
) -> FineTuner:
    """Fit DenseLoRA at rank ``r`` on the tiny model (or ``module``) for ``max_steps`` steps, in batches of 8 of
    the ``train_size - 16`` records left after validation (``train_size=48``: 4 steps an epoch)."""
    L.seed_everything(0, verbose=False)
    if module is None:
        module = FineTuner(DenseLoRA(r=r, alpha=2 * r), model_config=TINY_MODEL, warmup_steps=2, learning_rate=3e-3)
    data = QuickstartDataModule(
        data_dir=str(tmp_path / "data"),
        train_size=train_size,
        test_size=2,
        val_size=16,
        micro_batch_size=8,
        cutoff_len=64,
    )
    settings = dict(
        accelerator="cpu",
        devices=1,
        max_steps=max_steps,
        logger=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path / "root"),
    )
    settings.update(trainer_kwargs)
    L.Trainer(callbacks=callbacks, **settings).fit(module, datamodule=data)
    return module
