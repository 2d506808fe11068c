"""Where the project keeps what it builds once and reuses: the quickstart base, converted GGUF models."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_root"]

#: Environment variable that moves the cache (default ``~/.cache/denselora``).
CACHE_ENV = "DENSELORA_CACHE"


def cache_root() -> Path:
    """The cache folder: ``$DENSELORA_CACHE``, else ``~/.cache/denselora``."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "denselora"))
