"""Adapter-only state: the adapter tensors and their config, saved as safetensors + JSON, loaded with checks."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from denselora.config import DenseLoRAConfig
from denselora.errors import AdapterMismatchError
from denselora.inject import adapted_layers, apply_denselora, find_targets, get_shared, has_denselora
from denselora.modules.adapter import get_adapter_params

__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ADAPTER_WEIGHTS_FILE",
    "AdapterMismatchError",
    "adapter_metadata",
    "get_adapter_state_dict",
    "load_adapter",
    "save_adapter",
]

ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors"
ADAPTER_CONFIG_FILE = "adapter_config.json"
FORMAT = "denselora-adapter"
FORMAT_VERSION = 1
# Config fields that change what the saved tensors compute; the others (dropout, which tensors train, dtype)
# only concern training or storage, so an adapter loads whatever the model says about them.
_SEMANTIC_FIELDS = ("r", "alpha", "activation", "sharing")
_SHOWN = 5


def get_adapter_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The adapter tensors of ``model``, keyed as in ``model.state_dict()``, each tensor once."""
    return {name: param.detach() for name, param in get_adapter_params(model).items()}


def adapter_metadata(model: nn.Module) -> dict[str, Any]:
    """What a saved adapter records beside its tensors: the config and the shape of every adapted layer."""
    from denselora import __version__

    layers = {
        path: {"group": layer.group, "in_features": layer.in_features, "out_features": layer.out_features}
        for path, layer in adapted_layers(model).items()
    }
    base_name = getattr(getattr(model, "config", None), "_name_or_path", None) or None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "denselora_version": __version__,
        "base_model": base_name,
        "config": get_shared(model).config.to_dict(),
        "layers": layers,
    }


def save_adapter(model: nn.Module, directory: str | os.PathLike, tensors: dict[str, Tensor] | None = None) -> Path:
    """Write the adapter of ``model`` to ``directory`` as ``adapter_model.safetensors`` + ``adapter_config.json``.

    Each file is written to a temporary name and renamed into place, so an interrupted save never leaves a
    half-written adapter behind an old, complete one.

    Args:
        model: the adapted model.
        directory: created if missing.
        tensors: the adapter tensors to write (default: ``get_adapter_state_dict(model)``); the caller of a
            sharded model passes them gathered.

    Returns:
        The directory.
    """
    directory = Path(directory)
    metadata = adapter_metadata(model)
    source = get_adapter_state_dict(model) if tensors is None else tensors
    tensors = {}
    for name, tensor in source.items():
        if tensor.device.type == "meta":
            raise ValueError(f"cannot save adapter tensor {name!r}: it is on the meta device and holds no data")
        tensors[name] = tensor.to("cpu").contiguous()
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomically(directory / ADAPTER_WEIGHTS_FILE, lambda path: save_file(tensors, path, {"format": "pt"}))
    _write_atomically(
        directory / ADAPTER_CONFIG_FILE,
        lambda path: Path(path).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8"),
    )
    return directory


def load_adapter(model: nn.Module, directory: str | os.PathLike) -> nn.Module:
    """Load an adapter saved by :func:`save_adapter` into ``model`` and return it.

    A model without adapters is first adapted with the saved config; a model that has adapters must have
    the same rank, scaling, activation, sharing and adapted layers. Either way every adapted layer must have
    the shape it had when the adapter was trained.

    Raises:
        FileNotFoundError: ``directory`` does not hold a saved adapter.
        AdapterMismatchError: the adapter does not fit ``model``; the message lists what differs.
    """
    directory = Path(directory)
    metadata = read_adapter_metadata(directory)
    saved_config = DenseLoRAConfig.from_dict(metadata["config"])
    saved_layers: dict[str, dict[str, Any]] = metadata["layers"]

    if has_denselora(model):
        model_config = get_shared(model).config
        problems = [
            f"{field}: the adapter has {getattr(saved_config, field)!r}, the model {getattr(model_config, field)!r}"
            for field in _SEMANTIC_FIELDS
            if getattr(saved_config, field) != getattr(model_config, field)
        ]
        model_layers = {path: (m.in_features, m.out_features) for path, m in adapted_layers(model).items()}
        problems += _compare_layers(saved_layers, model_layers)
        if problems:
            raise AdapterMismatchError(_mismatch_message(directory, problems))
    else:
        try:
            targets = find_targets(model, saved_config)
        except ValueError as err:
            raise AdapterMismatchError(_mismatch_message(directory, [str(err)])) from None
        problems = _compare_layers(
            saved_layers, {t.path: (t.module.in_features, t.module.out_features) for t in targets}
        )
        if problems:
            raise AdapterMismatchError(_mismatch_message(directory, problems))
        apply_denselora(model, saved_config)

    try:
        tensors = load_file(directory / ADAPTER_WEIGHTS_FILE)
    except (SafetensorError, OSError) as err:
        raise AdapterMismatchError(
            f"cannot read {directory / ADAPTER_WEIGHTS_FILE}: {err}. The file is damaged or incomplete; save the "
            "adapter again"
        ) from None
    params = get_adapter_params(model)
    problems = _compare_tensors(tensors, params)
    if problems:
        raise AdapterMismatchError(_mismatch_message(directory, problems))
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(tensors[name])
    return model


def read_adapter_metadata(directory: str | os.PathLike) -> dict[str, Any]:
    """The JSON side of a saved adapter, checked to be one.

    Raises:
        FileNotFoundError: a file is missing.
        AdapterMismatchError: the JSON is not a DenseLoRA adapter config this version can read.
    """
    directory = Path(directory)
    config_path = directory / ADAPTER_CONFIG_FILE
    for path in (config_path, directory / ADAPTER_WEIGHTS_FILE):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} does not exist: {directory} is not a saved DenseLoRA adapter (expected "
                f"{ADAPTER_CONFIG_FILE} and {ADAPTER_WEIGHTS_FILE}, as written by denselora.save_adapter)"
            )
    try:
        metadata = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterMismatchError(f"{config_path} is not valid JSON ({err}); save the adapter again") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise AdapterMismatchError(
            f'{config_path} is not a DenseLoRA adapter config (no "format": "{FORMAT}"); a PEFT adapter '
            "loads with peft.PeftModel.from_pretrained instead"
        )
    if metadata.get("format_version", 0) > FORMAT_VERSION:
        raise AdapterMismatchError(
            f"{config_path} has format version {metadata['format_version']}, newer than this denselora reads "
            f"({FORMAT_VERSION}); upgrade denselora"
        )
    return metadata


def _compare_layers(saved: dict[str, dict[str, Any]], model: dict[str, tuple[int, int]]) -> list[str]:
    problems = []
    missing = [path for path in saved if path not in model]
    extra = [path for path in model if path not in saved]
    if missing:
        problems.append(
            f"{len(missing)} layer(s) adapted in the adapter are not targets in the model, e.g. {missing[:_SHOWN]}"
        )
    if extra:
        problems.append(f"{len(extra)} layer(s) of the model are not in the adapter, e.g. {extra[:_SHOWN]}")
    reshaped = [
        f"{path}: the adapter was trained for {s['in_features']} -> {s['out_features']}, "
        f"the model has {model[path][0]} -> {model[path][1]}"
        for path, s in saved.items()
        if path in model and (s["in_features"], s["out_features"]) != model[path]
    ]
    if reshaped:
        problems.append(
            f"{len(reshaped)} layer(s) differ in shape (another base model?): " + "; ".join(reshaped[:_SHOWN])
        )
    return problems


def _compare_tensors(tensors: dict[str, Tensor], params: dict[str, nn.Parameter]) -> list[str]:
    problems = []
    missing = [name for name in params if name not in tensors]
    unexpected = [name for name in tensors if name not in params]
    if missing:
        problems.append(f"{len(missing)} adapter tensor(s) missing from the file, e.g. {missing[:_SHOWN]}")
    if unexpected:
        problems.append(f"{len(unexpected)} tensor(s) in the file that the model lacks, e.g. {unexpected[:_SHOWN]}")
    reshaped = [
        f"{name}: file {tuple(tensors[name].shape)}, model {tuple(param.shape)}"
        for name, param in params.items()
        if name in tensors and tensors[name].shape != param.shape
    ]
    if reshaped:
        problems.append(f"{len(reshaped)} tensor(s) differ in shape: " + "; ".join(reshaped[:_SHOWN]))
    return problems


def _mismatch_message(directory: Path, problems: list[str]) -> str:
    return f"the adapter in {directory} does not fit this model:\n" + "\n".join(f"  - {p}" for p in problems)


def _write_atomically(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
