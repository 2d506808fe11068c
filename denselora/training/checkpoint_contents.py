"""What the fine-tuner's checkpoints hold besides Lightning's own state, written and checked in one place.

A checkpoint holds the adapter's tensors only (never the frozen base, which comes from the config on every
load), under ``state_dict`` keyed ``model.<name>``; the adapter's record under ``adapter`` (its method, settings
and tensor shapes: :meth:`~denselora.methods.AdapterMethod.metadata`), which refuses a checkpoint that does not
fit the configured model; and the random state of every generator under ``rng``, so a resumed fit draws the
dropout masks and shuffles it would have drawn. Everything is tensors and plain Python values, so the file loads
with ``torch.load(weights_only=True)``.

Lightning also records the fine-tuner's arguments (``hyper_parameters``, from ``save_hyperparameters``): the
config's values under the command line, which are plain already; objects given from Python are recorded as their
class and settings (:func:`plain_hyperparameters`).

The files themselves are written whole or not at all by :mod:`denselora.training.atomic_checkpoint_io`.
"""

from __future__ import annotations

import enum
import inspect
import os
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from denselora.distributed import copy_full_into
from denselora.errors import CheckpointMismatchError
from denselora.methods.base import AdapterMethod

__all__ = [
    "STATE_PREFIX",
    "check",
    "describe_metadata_difference",
    "is_plain",
    "load_adapter_tensors",
    "plain_hyperparameters",
    "restore_rng",
    "write",
]

#: The fine-tuner holds the adapted model as ``self.model``, so Lightning keys its tensors ``model.<name>``.
STATE_PREFIX = "model."


def write(checkpoint: dict[str, Any], adapter: AdapterMethod, model: nn.Module, state: dict[str, Tensor]) -> None:
    """Put the adapter's tensors, its record and the random state into a checkpoint Lightning is saving.

    Args:
        checkpoint: the checkpoint dict (``on_save_checkpoint``); its ``state_dict`` is replaced.
        adapter: the run's adapter method.
        model: the adapted model.
        state: the adapter's tensors, whole (gathered when sharded), keyed as ``adapter.adapter_tensors`` keys them.
    """
    checkpoint["state_dict"] = {STATE_PREFIX + key: tensor for key, tensor in state.items()}
    checkpoint["adapter"] = adapter.metadata(model)
    checkpoint["rng"] = _rng_state()


def check(checkpoint: dict[str, Any], adapter: AdapterMethod, model: nn.Module, resuming: bool) -> None:
    """Refuse a checkpoint whose adapter does not fit ``model``.

    Args:
        checkpoint: the loaded checkpoint dict (``on_load_checkpoint``).
        adapter: the configured adapter method.
        model: the adapted model the tensors are loaded into.
        resuming: a fit goes on from the checkpoint, so its training settings (dropout, ...) must match too;
            testing and predicting only need tensors that mean the same.

    Raises:
        CheckpointMismatchError: the checkpoint has no adapter record (another trainer wrote it), its record
            differs (the message lists each setting, checkpoint vs model), or its tensors are not the model's.
    """
    saved = checkpoint.get("adapter")
    if saved is None:
        raise CheckpointMismatchError(
            "the checkpoint holds no denselora adapter record: it was not written by this trainer"
        )
    difference = describe_metadata_difference(saved, adapter.metadata(model), adapter.training_fields, resuming)
    if difference is not None:
        raise CheckpointMismatchError(difference)
    _check_adapter_keys(checkpoint["state_dict"], adapter, model)


def restore_rng(checkpoint: dict[str, Any]) -> None:
    """Set every random generator to the state the checkpoint saved (none saved: left as they are)."""
    if "rng" in checkpoint:
        _set_rng_state(checkpoint["rng"])


def load_adapter_tensors(state: dict[str, Tensor], adapter: AdapterMethod, model: nn.Module) -> None:
    """Copy a checkpoint's adapter tensors (its ``state_dict``) into ``model``, sharded or not.

    Raises:
        CheckpointMismatchError: the tensors are not the model's adapter tensors.
    """
    _check_adapter_keys(state, adapter, model)
    for key, tensor in adapter.adapter_tensors(model).items():
        copy_full_into(tensor, state[STATE_PREFIX + key])


def describe_metadata_difference(
    saved: dict, expected: dict, training_fields: frozenset[str], resuming: bool
) -> str | None:
    """What keeps a checkpoint's adapter from this model, one line per setting (checkpoint vs model), or
    ``None`` when it fits.

    Args:
        saved: the checkpoint's adapter record (:meth:`AdapterMethod.metadata` when it was written).
        expected: the record of the model now.
        training_fields: config fields that do not change what the tensors mean
            (:attr:`AdapterMethod.training_fields`).
        resuming: a fit goes on from the checkpoint, so the training fields must match too.
    """
    lines = []
    if saved.get("method") != expected.get("method"):
        lines.append(f"method: checkpoint {saved.get('method')!r}, model {expected.get('method')!r}")
    training = []
    a, b = saved.get("config"), expected.get("config")
    if isinstance(a, dict) and isinstance(b, dict):
        same_layers = all(saved.get(key) == expected.get(key) for key in ("layers", "tensors"))
        for key in sorted(set(a) | set(b)):
            if a.get(key) == b.get(key):
                continue
            if key in ("target_modules", "missing_targets") and same_layers:
                continue  # spelled another way, but selecting the same layers: the tensors mean the same
            line = f"{key}: checkpoint {a.get(key)!r}, model {b.get(key)!r}"
            if key not in training_fields:
                lines.append(line)
            elif resuming:
                training.append(line)
    elif a is not None and a != b:  # checkpoints of the PEFT methods written before they recorded one have none
        lines.append("config differs")
    for key in ("layers", "tensors"):
        a, b = saved.get(key), expected.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
            shown = "; ".join(f"{k}: checkpoint {a.get(k)!r}, model {b.get(k)!r}" for k in diff[:4])
            lines.append(f"{key}: {len(diff)} difference(s): {shown}")
        else:
            lines.append(f"{key} differs")
    if not lines and not training:
        return None
    message = ["the checkpoint's adapter does not fit this model:", *(f"  - {line}" for line in lines)]
    if training:
        message += [f"  - {line}" for line in training]
        message.append(
            "  a resumed fit keeps the training settings of its checkpoint; test and predict accept a checkpoint "
            "that differs in them only"
        )
    return "\n".join(message)


def is_plain(value: Any) -> bool:
    """Whether ``value`` is ``None``, a bool, number or string, or a list or str-keyed dict of such values."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, list):
        return all(is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_plain(item) for key, item in value.items())
    return False


def plain_hyperparameters(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """``hparams`` in plain values (see :func:`is_plain`), as a config would give them.

    An object (an adapter method, a base source given from Python) becomes ``{"class_path", "init_args"}``: its
    class, and those of its class's arguments that it keeps as attributes of the same name. Tuples and sets
    become lists, paths strings, enums their values; anything else without a signature, its ``repr``.
    """
    return {str(key): _plain(value) for key, value in hparams.items()}


def _plain(value: Any) -> Any:
    if is_plain(value):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    cls = type(value)
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # a built-in or extension type, such as torch.dtype
        return repr(value)
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    kept = [p.name for p in parameters if p.kind in named and hasattr(value, p.name)]
    init_args = {name: _plain(getattr(value, name)) for name in kept}
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args}


def _check_adapter_keys(state: dict[str, Tensor], adapter: AdapterMethod, model: nn.Module) -> None:
    expected = {STATE_PREFIX + key for key in adapter.adapter_tensors(model)}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"the checkpoint's adapter tensors do not match the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )


def _rng_state() -> dict[str, Any]:
    # Only tensors and plain Python values, so the checkpoint loads with torch.load(weights_only=True).
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
