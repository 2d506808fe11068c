"""Names from the settings that become a file or folder name: one path component, never a way out.

A test-set name becomes ``<data_dir>/dataset/<name>/test.json`` and ``<run>/predictions/<name>.jsonl``; a
name such as ``../../tmp/evil`` would read and write outside those folders. Every such name goes through
:func:`checked_name`, which refuses anything but a single plain component, before it is joined to a path.
"""

from __future__ import annotations

from denselora.errors import ConfigError

__all__ = ["checked_name"]

# Characters that separate or end path components on the systems a run may be on.
_FORBIDDEN = ("/", "\\", "\x00")
#: The longest file name most file systems take (255 bytes), less room for the suffixes a run adds to it.
_LONGEST = 200


def checked_name(value: str, setting: str, allowed: str) -> str:
    """Return ``value`` if it is a single path component that stays in the folder it is joined to.

    Args:
        value: the name, as the user gave it.
        setting: the setting it comes from, named in the error (e.g. ``data.init_args.eval_datasets``).
        allowed: what the setting accepts, said in the error (e.g. "a folder name under <data_dir>/dataset/").

    Returns:
        ``value``, unchanged.

    Raises:
        ConfigError: ``value`` is empty, ``.`` or ``..``, or contains ``/``, ``\\`` or a NUL character.
    """
    if isinstance(value, str) and len(value.encode()) > _LONGEST:
        raise ConfigError(
            f"{setting}: a name of {len(value.encode())} bytes is longer than a file name may be ({_LONGEST} bytes); "
            f"give {allowed}."
        )
    if not isinstance(value, str) or value.strip() in ("", ".", "..") or any(c in value for c in _FORBIDDEN):
        raise ConfigError(
            f"{setting}: {value!r} is not a plain name and would put files outside the data or run directory; "
            f"give {allowed}: one name, not '.' or '..', without '/' or '\\'."
        )
    return value
