"""Import paths that moved, still importable for one release: each old module name is the new module.

0.4.0 gave DenseLoRA a folder of its own under ``methods/`` (as PEFT's ``tuners/<name>/``), put what every
method shares one folder up, and renamed modules whose names read as twins; ``CHANGELOG.md`` lists each move.
Importing an old path works and warns.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

__all__ = ["MOVED", "install"]

#: Old module -> the module it is now (removed in 0.5.0).
MOVED = {
    "denselora.adapter": "denselora.methods.denselora",
    **{
        f"denselora.adapter.{name}": f"denselora.methods.denselora.{name}"
        for name in (
            "config",
            "control",
            "dropout_masks",
            "functional",
            "fused",
            "inject",
            "layer",
            "options",
            "saving",
            "shared",
        )
    },
    "denselora.adapter.parameters": "denselora.methods.denselora.parameter_report",
    "denselora.adapter.protocol": "denselora.methods.adapter_module",
    "denselora.adapter.targets": "denselora.methods.targets",
    # Names that read as twins of others; a run's saved config.yaml names the checkpoint plugin by its path.
    "denselora.cli.run_directory": "denselora.cli.new_run_directory",
    "denselora.cli.run_dirs": "denselora.cli.finished_run_files",
    "denselora.training.checkpoint_io": "denselora.training.atomic_checkpoint_io",
    "denselora.training.checkpoint_record": "denselora.training.checkpoint_contents",
    "denselora.training.parameter_record": "denselora.training.parameters_json",
    "denselora.path_names": "denselora.checked_names",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module name with the new module object itself, so both names share classes and state."""

    def find_spec(self, fullname: str, path, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new} in denselora 0.4.0; the old path goes in 0.5.0", DeprecationWarning, 3
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The new module has run already."""


def install() -> None:
    """Let the old paths import (once per process)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())
