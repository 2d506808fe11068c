"""Checkpoint files that are either complete or absent: written aside, then renamed into place."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from denselora.errors import MissingRunFileError, RunDirectoryError, UnreadableFileError

__all__ = ["CHECKPOINT_HINT", "AtomicCheckpointIO", "readable_checkpoint", "remove_stale_partials"]

#: A checkpoint being written is ``.<name>.partial-<pid>`` until it is renamed into place.
PARTIAL_MARK = ".partial-"
#: Exactly the partial files :class:`AtomicCheckpointIO` writes: a hidden ``.ckpt`` name, the mark, a process id.
_PARTIAL_CHECKPOINT = re.compile(r"\.(?P<name>.+\.ckpt)" + re.escape(PARTIAL_MARK) + r"(?P<pid>\d+)")

CHECKPOINT_HINT = "give --ckpt_path a .ckpt that fit wrote, such as <run>/checkpoints/last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a local checkpoint to a temporary file in the same directory, flushes it to disk, and renames it
    over the target, so a process killed mid-save leaves the previous checkpoint whole (a rename within one
    file system is atomic). Remote paths (``s3://`` and the like) keep Lightning's own writer.

    A directory that cannot be written (full, read-only) and a checkpoint that cannot be read (missing,
    truncated, not a checkpoint) are the user's to fix: they raise a :class:`~denselora.errors.UserError` that
    names the file, instead of the storage library's traceback.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None or not isinstance(get_filesystem(path), LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}{PARTIAL_MARK}{os.getpid()}")
        try:
            with open(temporary, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except (OSError, RuntimeError) as err:
            # torch.save reports a full disk as a RuntimeError of its zip writer ("file write failed").
            if isinstance(err, RuntimeError) and "write" not in str(err).lower():
                raise
            kept = f"; {path} from before is intact" if path.exists() else ""
            reason = err.strerror if isinstance(err, OSError) and err.strerror else _first_line(err)
            raise RunDirectoryError(
                f"cannot write the checkpoint {path}: {reason}{kept}. Free space or make the folder "
                "writable (or choose another --trainer.logger.init_args.save_dir), then resume from the last "
                "checkpoint with --ckpt_path"
            ) from None
        finally:
            temporary.unlink(missing_ok=True)

    def load_checkpoint(self, path: str | os.PathLike, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Load a checkpoint; ``weights_only`` left unset (Lightning leaves it ``None``) means ``True``.

        The project's checkpoints hold only tensors and plain values (the adapter, the optimizer and loop
        states, the RNG states), so the restricted unpickler reads them whole, and refuses a file that would run
        code when loaded.
        """
        if len(args) < 2 and kwargs.get("weights_only") is None:  # (map_location, weights_only) positionally
            kwargs["weights_only"] = True
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().load_checkpoint(path, *args, **kwargs)
        with readable_checkpoint(path):
            return super().load_checkpoint(path, *args, **kwargs)


@contextlib.contextmanager
def readable_checkpoint(path: str | os.PathLike) -> Iterator[None]:
    """Turns the ways a local checkpoint file can fail to load into one message that names it.

    Raises:
        MissingRunFileError: there is no such file.
        UnreadableFileError: it is truncated, corrupt or not a checkpoint.
    """
    if not Path(path).is_file():
        raise MissingRunFileError(f"{path}: no such checkpoint; {CHECKPOINT_HINT}")
    try:
        yield
    except Exception as err:  # torch reports a damaged file in many ways: zip, pickle, EOF, key errors
        first_sentence = str(err).split(". ")[0].splitlines()[0][:120] if str(err) else ""
        reason = f"{type(err).__name__}: {first_sentence}" if first_sentence else type(err).__name__
        raise UnreadableFileError(
            f"{path}: not a readable checkpoint ({reason}); it may be truncated or not written by fit. "
            f"{CHECKPOINT_HINT[0].upper()}{CHECKPOINT_HINT[1:]}"
        ) from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[-1][:160]


def remove_stale_partials(directory: str | os.PathLike) -> list[Path]:
    """Delete the half-written checkpoints that a process killed while saving left in ``directory``.

    Only files named as :class:`AtomicCheckpointIO` names them (``.<name>.ckpt.partial-<pid>``) are considered, so a
    file of the user's that happens to look alike stays; one is stale when the process named in it is no longer
    running, and one still being written by a live process is left alone. Returns the files removed.
    """
    removed = []
    directory = Path(directory)
    if not directory.is_dir():
        return removed
    for path in directory.iterdir():
        found = _PARTIAL_CHECKPOINT.fullmatch(path.name)
        if found and path.is_file() and not _running(int(found.group("pid"))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
