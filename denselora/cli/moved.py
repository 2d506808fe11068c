"""What version 0.2.0 moved, for the configs written before it: a run's saved ``config.yaml`` names them, and
jsonargparse alone would only say that an option is not accepted or that a module has no such attribute.
The parse error then starts with where each thing went (see ``CHANGELOG.md``)."""

from __future__ import annotations

import re

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


def moved_advice(reason: str) -> list[str]:
    """One line per moved setting or class path that the parse error ``reason`` names: what to write instead."""
    lines = [hint for name, hint in MOVED_SETTINGS.items() if f"Option '{name}' is not accepted" in reason]
    for name in dict.fromkeys(re.findall(r"denselora(?:\.\w+)+", reason)):
        for old, new in MOVED_CLASS_PATHS.items():
            if name == old or (old.endswith(".") and name.startswith(old)):
                now = new + name[len(old) :] if old.endswith(".") else new
                lines.append(f"{name} is {now} since denselora 0.2.0: write that in the config")
                break
    return lines
