"""Adapter-only state: the adapter tensors and their config, saved as safetensors + JSON, loaded with checks."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from denselora.errors import AdapterMismatchError, RunDirectoryError
from denselora.methods.adapter_module import get_adapter_params
from denselora.methods.denselora.config import DenseLoRAConfig
from denselora.methods.denselora.inject import (
    Target,
    adapted_layers,
    apply_denselora,
    find_targets,
    get_shared,
    has_denselora,
)
from denselora.methods.denselora.layer import DenseLoRALinear
from denselora.version import __version__

__all__ = [
    "ADAPTER_CONFIG_FILE",
    "ADAPTER_WEIGHTS_FILE",
    "AdapterMismatchError",
    "adapter_metadata",
    "base_identity",
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
# Fields of a Hugging Face config that tell one base model from another at no cost; a model without them is
# told apart by its linear layers alone.
_IDENTITY_CONFIG_FIELDS = ("model_type", "architectures", "hidden_size", "num_hidden_layers", "vocab_size")


def get_adapter_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The adapter tensors of ``model``, keyed as in ``model.state_dict()``, each tensor once."""
    return {name: param.detach() for name, param in get_adapter_params(model).items()}


def adapter_metadata(model: nn.Module) -> dict[str, Any]:
    """What a saved adapter records beside its tensors: the config and the shape of every adapted layer."""
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
        "base_identity": base_identity(model),
        "config": get_shared(model).config.to_dict(),
        "layers": layers,
    }


def base_identity(model: nn.Module) -> dict[str, Any]:
    """What tells the base model of ``model`` from another, cheaply even for an 8B model.

    The name it was loaded from, a few fields of its Hugging Face config, and a SHA-256 of the name and
    shape of every linear layer (adapted or not, so the same before and after adaptation). Hashing the
    weights themselves would take minutes on a large model; a fine-tuned variant of the same architecture
    (an instruct model, say) is told apart by its name only.
    """
    config = getattr(model, "config", None)
    identity: dict[str, Any] = {"name_or_path": getattr(config, "_name_or_path", None) or None}
    for field in _IDENTITY_CONFIG_FIELDS:
        value = getattr(config, field, None)
        identity[field] = list(value) if isinstance(value, (list, tuple)) else value
    digest = hashlib.sha256()
    for path, module in model.named_modules():
        if isinstance(module, (nn.Linear, DenseLoRALinear)):
            digest.update(f"{path} {module.in_features} {module.out_features}\n".encode())
    identity["linear_layers_sha256"] = digest.hexdigest()
    return identity


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
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(directory / ADAPTER_WEIGHTS_FILE, lambda path: save_file(tensors, path, {"format": "pt"}))
        _write_atomically(
            directory / ADAPTER_CONFIG_FILE,
            lambda path: Path(path).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8"),
        )
    except (OSError, SafetensorError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise RunDirectoryError(
            f"cannot write the adapter to {directory}: {reason}. Files already there are whole (each is written "
            "aside and renamed into place), and the run's checkpoints hold the adapter too; free space or make the "
            "folder writable"
        ) from None
    return directory


def load_adapter(model: nn.Module, directory: str | os.PathLike) -> nn.Module:
    """Load an adapter saved by :func:`save_adapter` into ``model`` and return it.

    A model without adapters is first adapted with the saved config; a model that has adapters must have
    the same rank, scaling, activation, sharing and adapted layers. Either way every adapted layer must have
    the shape it had when the adapter was trained. Both files are read and checked in full (every tensor
    present, of its shape, floating-point) before ``model`` is changed, so a load that fails leaves the model
    as it was: not adapted, not frozen. An adapter that fits but was saved from another base model (by name,
    config or linear layer shapes) loads with a warning.

    Raises:
        FileNotFoundError: ``directory`` does not hold a saved adapter.
        AdapterMismatchError: the adapter does not fit ``model``, or a file is damaged; the message names
            the file and lists what differs.
    """
    directory = Path(directory)
    metadata = read_adapter_metadata(directory)
    saved_config = DenseLoRAConfig.from_dict(metadata["config"])
    saved_layers: dict[str, dict[str, Any]] = metadata["layers"]

    adapted = has_denselora(model)
    if adapted:
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
        expected = get_adapter_params(model)
    else:
        try:
            # The saved layer list says which layers the adapter holds (compared below), so a target name that
            # matched nothing when it was trained must not refuse it now.
            targets = find_targets(model, dataclasses.replace(saved_config, missing_targets="ignore"))
        except ValueError as err:
            raise AdapterMismatchError(_mismatch_message(directory, [str(err)])) from None
        problems = _compare_layers(
            saved_layers, {t.path: (t.module.in_features, t.module.out_features) for t in targets}
        )
        if problems:
            raise AdapterMismatchError(_mismatch_message(directory, problems))
        expected = _planned_adapter_params(targets, saved_config)

    weights = directory / ADAPTER_WEIGHTS_FILE
    try:
        tensors = load_file(weights)
    except (SafetensorError, OSError) as err:
        raise AdapterMismatchError(
            f"cannot read {weights}: {err}. The file is damaged or incomplete; save the adapter again"
        ) from None
    problems = _compare_tensors(tensors, expected)
    if problems:
        raise AdapterMismatchError(_mismatch_message(weights, problems))
    _warn_if_another_base(directory, metadata.get("base_identity"), base_identity(model))

    # Everything is checked: from here on the model changes, and nothing left can fail on the files.
    if not adapted:
        apply_denselora(model, saved_config)
    with torch.no_grad():
        for name, param in get_adapter_params(model).items():
            param.copy_(tensors[name])
    return model


def _planned_adapter_params(targets: list[Target], config: DenseLoRAConfig) -> dict[str, nn.Parameter]:
    """The adapter parameters ``apply_denselora`` would give a model with these targets, without touching it.

    They are built on a stand-in holding a meta-device copy of each target at the same path, so their
    names and shapes come from ``apply_denselora`` itself and nothing is allocated. The global RNG is
    restored afterwards: a seeded run draws the same numbers whether or not an adapter was loaded first.
    """
    stand_in = nn.Module()
    for target in targets:
        parent = stand_in
        *parents, name = target.path.split(".")
        for part in parents:
            if part not in parent._modules:
                parent.register_module(part, nn.Module())
            parent = parent._modules[part]
        weight = target.module.weight
        parent.register_module(
            name,
            nn.Linear(
                target.module.in_features,
                target.module.out_features,
                bias=target.module.bias is not None,
                device="meta",
                dtype=weight.dtype,
            ),
        )
    with torch.random.fork_rng(devices=[]):
        apply_denselora(stand_in, config)
    return get_adapter_params(stand_in)


def _warn_if_another_base(directory: Path, saved: dict[str, Any] | None, model: dict[str, Any]) -> None:
    """Warn when the adapter records a base model other than ``model``; adapters saved before the base was
    recorded (no ``saved``) load silently. Only what both sides know is compared."""
    if not saved:
        return
    differences = []
    for field, value in model.items():
        before = saved.get(field)
        if before is None or value is None:
            continue
        if field == "name_or_path":
            # The same model loaded from the Hub ("org/name") and from a local copy (".../name") is one base.
            same = Path(str(before).rstrip("/")).name == Path(str(value).rstrip("/")).name
        else:
            same = before == value
        if not same:
            differences.append(f"{field}: saved {before!r}, now {value!r}")
    if differences:
        warnings.warn(
            f"the adapter in {directory} was saved from another base model than the one it is loaded into "
            f"({'; '.join(differences)}); its layers fit, so it loads, but it was trained for that other base",
            UserWarning,
            stacklevel=3,
        )


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
    # Copying casts any dtype into the parameters, so an integer or boolean tensor would load silently as nonsense.
    not_float = [
        f"{name}: file {tensors[name].dtype}, model {param.dtype}"
        for name, param in params.items()
        if name in tensors and not tensors[name].is_floating_point()
    ]
    if not_float:
        problems.append(f"{len(not_float)} tensor(s) are not floating-point: " + "; ".join(not_float[:_SHOWN]))
    # A NaN or an infinity (a run that diverged before it was saved) would make every output of the model non-finite.
    not_finite = [
        name
        for name in params
        if name in tensors and tensors[name].is_floating_point() and not bool(torch.isfinite(tensors[name]).all())
    ]
    if not_finite:
        problems.append(
            f"{len(not_finite)} tensor(s) hold NaN or infinite values (the run diverged?): {not_finite[:_SHOWN]}"
        )
    return problems


def _mismatch_message(where: Path, problems: list[str]) -> str:
    return f"the adapter in {where} does not fit this model:\n" + "\n".join(f"  - {p}" for p in problems)


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
