"""Errors caused by the user's data or data settings.

The command line prints these without a traceback: their message names the file (and record) at fault and
says how to fix it, so a traceback would only hide that message.
"""

from __future__ import annotations

__all__ = ["DataError", "MissingDataError"]


class DataError(ValueError):
    """Bad user data or data settings: unreadable JSON, a missing or mistyped field, an invalid option."""


class MissingDataError(DataError, FileNotFoundError):
    """A data file that the settings point to does not exist; the message names the full path."""
