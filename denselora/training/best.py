"""The checkpoint a run keeps as its result."""

from __future__ import annotations

from pathlib import Path

import lightning as L

__all__ = ["best_checkpoint"]


def best_checkpoint(trainer: L.Trainer) -> str | None:
    """The checkpoint with the best monitored validation score, or ``None`` when nothing is monitored."""
    callback = trainer.checkpoint_callback
    if callback is None or callback.monitor is None:
        return None
    best = callback.best_model_path
    return best if best and Path(best).is_file() else None
