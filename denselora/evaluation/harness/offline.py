"""Hugging Face's hub and ``datasets`` offline while lm-eval loads tasks and the model.

lm-eval's tasks load their data with ``datasets.load_dataset``, which asks the hub for any ``dataset_path`` that
is not a local builder; on a machine without network a hub request can wait for minutes before it fails. Under
:func:`offline` every such request fails at once (``OfflineModeIsEnabled``, a ``ConnectionError``), and the
command turns that into a message naming the task.

The switches are read when ``huggingface_hub`` and ``datasets`` are imported, and the command line imports them
before any command runs, so setting the environment is not enough: the modules' own flags are set too, and all
of it is put back when the block ends (tests run commands in one process).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["offline"]

_ENVIRONMENT = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
#: Module -> its flags that decide, when read at call time, whether a hub request is made.
_FLAGS = {
    "huggingface_hub.constants": ("HF_HUB_OFFLINE",),
    "datasets.config": ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"),
}


@contextmanager
def offline() -> Iterator[None]:
    """Make Hugging Face hub and ``datasets`` requests fail at once inside the block, then restore the settings."""
    saved_environment = {name: os.environ.get(name) for name in _ENVIRONMENT}
    saved_flags = []
    for name in _ENVIRONMENT:
        os.environ[name] = "1"
    for module_name, flags in _FLAGS.items():
        module = sys.modules.get(module_name)  # one imported later reads the environment set above
        for flag in flags if module is not None else ():
            if hasattr(module, flag):
                saved_flags.append((module, flag, getattr(module, flag)))
                setattr(module, flag, True)
    try:
        yield
    finally:
        for module, flag, value in saved_flags:
            setattr(module, flag, value)
        for name, value in saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
