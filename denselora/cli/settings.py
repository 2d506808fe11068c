"""Settings that Lightning accepts but that would train wrong or fail late, refused before anything loads.

Lightning takes ``accumulate_grad_batches: -1`` and divides the loss by it (gradient ascent, exit 0), and fails
on ``0``, ``val_check_interval: 0`` or a seed outside NumPy's range only with a traceback, some of them after the
data and the model have loaded. Each is one message here, naming the setting and what it takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from denselora.errors import ConfigError

__all__ = ["SEED_RANGE", "check_logger", "check_seed", "check_trainer_settings"]

#: The seeds ``seed_everything`` can give every library (NumPy's are 32-bit unsigned).
SEED_RANGE = (0, 2**32 - 1)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_trainer_settings(trainer: Mapping[str, Any]) -> None:
    """Refuse trainer settings that are out of range.

    Args:
        trainer: the ``trainer`` section of the parsed config.

    Raises:
        ConfigError: naming the first setting out of range and the values it takes.
    """
    accumulate = trainer.get("accumulate_grad_batches")
    if accumulate is not None and (not _is_int(accumulate) or accumulate < 1):
        raise ConfigError(
            f"--trainer.accumulate_grad_batches must be a whole number >= 1 (the micro-batches summed into one "
            f"optimizer step), got {accumulate!r}"
        )
    interval = trainer.get("val_check_interval")
    if interval is not None:
        if _is_int(interval) and interval < 1:
            raise ConfigError(
                f"--trainer.val_check_interval must be >= 1 training batches, or a fraction in (0, 1] of an epoch; "
                f"got {interval!r}"
            )
        if isinstance(interval, float) and not 0.0 < interval <= 1.0:
            raise ConfigError(
                f"--trainer.val_check_interval as a fraction of an epoch must be in (0, 1]; got {interval!r} (write "
                "a whole number for a count of training batches)"
            )
    every = trainer.get("log_every_n_steps")
    if every is not None and (not _is_int(every) or every < 1):
        raise ConfigError(f"--trainer.log_every_n_steps must be a whole number >= 1, got {every!r}")
    for name in ("max_steps", "max_epochs"):
        value = trainer.get(name)
        if value is not None and _is_int(value) and value < -1:
            raise ConfigError(f"--trainer.{name} must be >= 0, or -1 for no limit; got {value!r}")


def check_seed(seed: Any) -> None:
    """Refuse a ``seed_everything`` that is neither a bool nor a whole number in :data:`SEED_RANGE`.

    Raises:
        ConfigError: naming the seed and the range.
    """
    if seed is None or isinstance(seed, bool):
        return
    low, high = SEED_RANGE
    if not _is_int(seed) or not low <= seed <= high:
        raise ConfigError(
            f"--seed_everything must be a whole number from {low} to {high} (or true for a random one), got {seed!r}"
        )


def check_logger(trainer: Mapping[str, Any]) -> None:
    """Every run needs a run directory, which its logger names: refuse no logger, and a logger name that would put
    the run outside the logger's ``save_dir`` (absolute, or with ``..``).

    Raises:
        ConfigError: naming the setting and what to give instead.
    """
    logger = trainer.get("logger", True)
    if logger is False or logger is None:
        raise ConfigError(
            "--trainer.logger false leaves the run without a run directory, and its config, checkpoints and adapter "
            "would land in the current directory; keep the logger and choose where runs go with "
            "--trainer.logger.init_args.save_dir DIR"
        )
    loggers = logger if isinstance(logger, list) else [logger]
    for entry in loggers:
        init_args = getattr(entry, "init_args", None)
        name = None if init_args is None else init_args.get("name")
        if isinstance(name, str) and (PurePath(name).is_absolute() or ".." in PurePath(name).parts):
            raise ConfigError(
                f"--trainer.logger.init_args.name {name!r} would put the run outside save_dir; give a name inside "
                "it (no leading '/', no '..'), and choose the folder itself with --trainer.logger.init_args.save_dir"
            )
