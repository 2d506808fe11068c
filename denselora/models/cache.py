"""Where the project keeps what it builds once and reuses: base models built offline, converted GGUF models."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["CACHE_ENV", "build_once", "cache_root"]

#: Environment variable that moves the cache (default ``~/.cache/denselora``).
CACHE_ENV = "DENSELORA_CACHE"


def cache_root() -> Path:
    """The cache folder: ``$DENSELORA_CACHE``, else ``~/.cache/denselora``."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "denselora"))


def build_once(folder: Path, marker: str, write: Callable[[Path], None]) -> Path:
    """``folder``, calling ``write(private folder)`` to fill it first unless it already holds ``marker``.

    Processes building at once each write a private folder and rename it into place: the first rename wins,
    the others discard theirs (what they built is the same), and no process ever sees a half-written folder.
    """
    if (folder / marker).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    try:
        os.replace(partial, folder)
    except OSError:  # another process finished first
        shutil.rmtree(partial, ignore_errors=True)
    return folder
