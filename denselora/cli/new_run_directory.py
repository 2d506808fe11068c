"""Each run gets a directory of its own, claimed atomically, even when several runs start at once.

Lightning's loggers pick ``version_N`` by listing the folder and taking the next number, so two runs started
together both take the same one and write their checkpoints and configs into each other's directory. Creating
the directory is the claim: ``os.mkdir`` fails for all but one process, and the others try the next number.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from denselora.run_layout import (
    ADAPTER_EXPORT_DIR,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    ENVIRONMENT_FILE,
    HPARAMS_FILE,
    LAST_CHECKPOINT_FILE,
    PARAMETER_RECORD,
    TENSORBOARD_EVENTS_PREFIX,
)

__all__ = ["claim_version", "latest_checkpoint", "release_if_unused", "trained_outputs"]

#: ``version_N``, or ``version_N-<what ran>`` (``version_3-test``): the directories the runs of one name number.
_VERSION = re.compile(r"version_(\d+)(?:-[a-z][a-z0-9-]*)?")


def claim_version(root: str | os.PathLike, label: str | None = None) -> tuple[int, Path]:
    """Create ``root/version_N`` (``root/version_N-<label>`` with a ``label``) for the smallest ``N`` above every
    existing version, and return both.

    Args:
        root: the logger's folder for this experiment (``save_dir/name``); created if missing.
        label: what the run does, when it is not a fit (e.g. ``test``, ``test-zero-shot``): the directory's name,
            and so TensorBoard's name for the run, says it.

    Returns:
        The version number and the new, empty directory, which no other caller can also have received.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    while True:
        taken = [int(m.group(1)) for entry in os.listdir(root) if (m := _VERSION.fullmatch(entry))]
        version = max(taken, default=-1) + 1
        path = root / (f"version_{version}-{label}" if label else f"version_{version}")
        try:
            path.mkdir()
        except FileExistsError:  # another run claimed it between the listing and now
            continue
        return version, path


#: What a run writes while it sets up, before it has trained, evaluated or predicted anything.
SETUP_RECORDS = (CONFIG_FILE, ENVIRONMENT_FILE, HPARAMS_FILE, PARAMETER_RECORD)


def release_if_unused(path: str | os.PathLike) -> None:
    """Remove the directory of a run that failed before it produced anything: only its setup records are in it
    (the config, the environment, the logger's event file), no checkpoint, adapter, evaluation or prediction."""
    path = Path(path)
    if not path.is_dir():
        return
    files = [p for p in path.rglob("*") if not p.is_dir()]
    if all(p.parent == path and _is_setup_record(p.name) for p in files):
        shutil.rmtree(path, ignore_errors=True)


def _is_setup_record(name: str) -> bool:
    return name in SETUP_RECORDS or name.startswith(TENSORBOARD_EVENTS_PREFIX)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """``root/version_N/checkpoints/last.ckpt`` of the highest ``N`` that has one, or ``None``."""
    root = Path(root)
    if not root.is_dir():
        return None
    versions = sorted((int(m.group(1)), entry) for entry in os.listdir(root) if (m := _VERSION.fullmatch(entry)))
    for _, entry in reversed(versions):
        path = root / entry / CHECKPOINTS_DIR / LAST_CHECKPOINT_FILE
        if path.is_file():
            return path
    return None


def trained_outputs(path: str | os.PathLike) -> list[str]:
    """What a fit left in the run directory ``path`` that a new fit there would overwrite: its checkpoints and its
    exported adapter, as ``checkpoints/<name>.ckpt`` and ``adapter/``; empty when there are none."""
    path = Path(path)
    found = [f"{CHECKPOINTS_DIR}/{p.name}" for p in sorted((path / CHECKPOINTS_DIR).glob("*.ckpt"))]
    if (path / ADAPTER_EXPORT_DIR).is_dir() and any((path / ADAPTER_EXPORT_DIR).iterdir()):
        found.append(f"{ADAPTER_EXPORT_DIR}/")
    return found
