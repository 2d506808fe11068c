"""Row files: JSON lines appended as they come, and one naming rule for the rows a run has not finished yet.

The evaluation (``<run>/evaluation/predictions/<dataset>.jsonl``) and ``predict``
(``<run>/predictions/<name>.jsonl``) write the same way: every batch's rows are appended to this rank's
partial file, ``<name>.rank<r>.partial.jsonl``, so a crash loses nothing already generated and the partial
file reads as JSON lines like the final one; when the rows are complete, the final ``<name>.jsonl`` is written
aside and renamed into place (it is either whole or absent), and the partial file goes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from denselora.errors import RunDirectoryError

__all__ = ["PARTIAL_SUFFIX", "append_rows", "partial_path", "write_rows"]

#: How a partial file's name ends: ``<name>.rank<r>`` + this.
PARTIAL_SUFFIX = ".partial.jsonl"


def partial_path(directory: Path, name: str, rank: int) -> Path:
    """Where rank ``rank`` appends the rows of ``<name>.jsonl`` until they are complete.

    Args:
        directory: the folder of the final file.
        name: the final file's name less ``.jsonl``.
        rank: the writing process's global rank (0 on one process).

    Returns:
        ``<directory>/<name>.rank<rank>.partial.jsonl``.
    """
    return directory / f"{name}.rank{rank}{PARTIAL_SUFFIX}"


def append_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append ``rows`` to ``path``, one JSON object a line (non-ASCII kept as is), creating its folder.

    Raises:
        RunDirectoryError: the folder or the file cannot be written (full, read-only).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as err:
        raise RunDirectoryError(
            f"cannot write {path}: {err.strerror or err}; free space or make the folder writable, then run again"
        ) from None


def write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write ``rows`` to ``path`` as :func:`append_rows` does, replacing it whole: written to
    ``<path>.tmp``, then renamed over it, so a reader never sees half a file, and no ``.tmp`` stays behind when
    the write fails.

    Raises:
        RunDirectoryError: the file cannot be written; ``path`` is left as it was.
    """
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    try:
        append_rows(temporary, rows)
        temporary.replace(path)
    except RunDirectoryError as err:
        raise RunDirectoryError(str(err).replace(str(temporary), str(path), 1)) from None
    except OSError as err:
        raise RunDirectoryError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        temporary.unlink(missing_ok=True)
