"""Errors caused by what a user gave us: data, settings, checkpoints.

The command line prints a :class:`UserError` as one message and exits with code 2, without a traceback:
the message names the thing at fault (file, record, setting) and the fix, and a traceback would only bury it.
Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "AdapterMismatchError",
    "CheckpointMismatchError",
    "ConfigError",
    "DataError",
    "MissingDataError",
    "MissingRunFileError",
    "RunDirectoryError",
    "TrainingDivergedError",
    "UnreadableFileError",
    "UserError",
]


class UserError(Exception):
    """Something the user can fix; the message says what and how."""


class ConfigError(UserError, ValueError):
    """A setting is invalid (a value out of range, an unknown choice, a target that matches nothing)."""


class DataError(UserError, ValueError):
    """Bad user data or data settings: unreadable JSON, a missing or mistyped field, an invalid option."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file that the settings point to does not exist; the message names the full path."""


class AdapterMismatchError(UserError, ValueError):
    """A saved adapter does not fit the model it is loaded into; the message says what differs."""


class CheckpointMismatchError(UserError, ValueError):
    """A training checkpoint does not fit the configured run (another base model, method, rank or targets)."""


class TrainingDivergedError(UserError, RuntimeError):
    """The loss became NaN or infinite; the run stops before the bad step, its checkpoints intact."""


class MissingRunFileError(UserError, FileNotFoundError):
    """A run directory, or a file a command needs from one, does not exist; the message names the path."""


class UnreadableFileError(UserError, ValueError):
    """A file a command reads exists but is not what it should be (truncated, corrupt, of another kind)."""


class RunDirectoryError(UserError, OSError):
    """The run directory cannot be written (read-only, full, not permitted); what was saved before is intact."""
