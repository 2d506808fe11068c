"""Locating a run directory and the files a command reads from it."""

from __future__ import annotations

from pathlib import Path

from denselora.errors import MissingRunFileError

__all__ = ["require_file", "require_run_dir"]


def require_run_dir(path: str | Path) -> Path:
    """``path`` as a directory.

    Raises:
        MissingRunFileError: it does not exist or is not a directory.
    """
    run_dir = Path(path)
    if not run_dir.is_dir():
        raise MissingRunFileError(
            f"{run_dir}: no such run directory (runs are written to <save_dir>/<name>/version_N, e.g. "
            "runs/commonsense/version_0)"
        )
    return run_dir


def require_file(run_dir: Path, relative: str, made_by: str) -> Path:
    """``run_dir / relative``, which must be a file.

    Args:
        run_dir: the run directory.
        relative: the file's path inside it.
        made_by: what writes the file, for the message.

    Raises:
        MissingRunFileError: there is no such file.
    """
    path = run_dir / relative
    if not path.is_file():
        raise MissingRunFileError(f"{path}: no such file; it is written by {made_by}")
    return path
