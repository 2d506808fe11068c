"""What version 0.2.0 moved, for the configs written before it: a run's saved ``config.yaml`` names them, and
jsonargparse alone would only say that an option is not accepted or that a module has no such attribute.
The parse error then starts with where each thing went (see ``CHANGELOG.md``)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import yaml

__all__ = ["MOVED_CLASS_PATHS", "MOVED_SETTINGS", "moved_advice"]

#: A setting that moved -> what to write instead.
MOVED_SETTINGS = {
    "test_after_fit": (
        "model.init_args.test_after_fit is now a setting of the command, not of the model: write "
        "`test_after_fit: true` at the top level of the config (beside seed_everything), or give --test_after_fit true"
    ),
}

#: An old class path, or a module prefix ending in ``.``, -> where it is now.
MOVED_CLASS_PATHS = {
    "denselora.adapters.": "denselora.methods.",
    "denselora.data.quickstart.QuickstartDataModule": "denselora.quickstart.QuickstartDataModule",
    "denselora.models.QuickstartBase": "denselora.quickstart.QuickstartBase",
}


def moved_advice(reason: str, config_files: Sequence[str | os.PathLike] = ()) -> list[str]:
    """One line per moved setting or class path that the parse error ``reason`` or one of the ``config_files``
    given names: what to write instead. jsonargparse stops at the first problem; a saved config of an earlier
    version may hold several, and the user fixes them all at once."""
    texts = [reason]
    model_settings: set[str] = set()
    for file in map(Path, config_files):
        if not file.is_file():
            continue
        texts.append(file.read_text(errors="replace"))
        try:
            config = yaml.safe_load(texts[-1])
        except yaml.YAMLError:
            continue
        model = config.get("model") if isinstance(config, dict) else None
        init_args = model.get("init_args") if isinstance(model, dict) else None
        model_settings |= set(init_args) if isinstance(init_args, dict) else set()
    lines = [
        hint
        for name, hint in MOVED_SETTINGS.items()
        if f"Option '{name}' is not accepted" in reason or name in model_settings
    ]
    for name in dict.fromkeys(re.findall(r"denselora(?:\.\w+)+", "\n".join(texts))):
        for old, new in MOVED_CLASS_PATHS.items():
            if name == old or (old.endswith(".") and name.startswith(old)):
                now = new + name[len(old) :] if old.endswith(".") else new
                lines.append(f"{name} is {now} since denselora 0.2.0: write that in the config")
                break
    return lines
