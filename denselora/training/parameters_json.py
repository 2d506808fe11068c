"""``<run>/parameters.json``: what a run trains, written when fitting starts, read by ``python -m denselora report``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from denselora.errors import UnreadableFileError
from denselora.methods.parameter_counts import count_parameters
from denselora.run_layout import PARAMETER_RECORD

__all__ = ["parameter_record", "read_parameter_record", "write_parameter_record"]


def parameter_record(model: nn.Module, method: str, r: int | None) -> dict[str, Any]:
    """The counts of ``model`` as it is now: ``trainable`` (``requires_grad``), ``total`` (adapters included) and
    ``trainable_percent`` = 100 * trainable / total, the "Params (%)" column of the paper's tables."""
    count = count_parameters(model)
    return {
        "method": method,
        "r": r,
        "trainable": count.trainable,
        "total": count.total,
        "trainable_percent": count.percent,
    }


def write_parameter_record(model: nn.Module, method: str, r: int | None, directory: str | os.PathLike) -> Path:
    """Write :func:`parameter_record` to ``<directory>/parameters.json`` and return the path."""
    path = Path(directory) / PARAMETER_RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(parameter_record(model, method, r), indent=2) + "\n")
    return path


def read_parameter_record(directory: str | os.PathLike) -> dict[str, Any] | None:
    """The record of a run directory, or ``None`` when it has none (a run that did not fit)."""
    path = Path(directory) / PARAMETER_RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UnreadableFileError(
            f"{path} is not the JSON fit writes ({err}); fit the run again to rewrite it"
        ) from None
    if not isinstance(record, dict):
        raise UnreadableFileError(f"{path} is not the JSON object fit writes; fit the run again to rewrite it")
    return record
