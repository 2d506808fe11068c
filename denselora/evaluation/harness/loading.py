"""The model to evaluate: a run's checkpoint, an exported adapter folder, or a bare base, rebuilt offline.

- **A checkpoint** (``<run>/checkpoints/*.ckpt``) holds the adapter's tensors and, under ``hyper_parameters``, the
  fine-tuner's arguments in plain values (``adapter: {class_path, init_args}``, ``pretrained``, ``tokenizer``,
  ``dtype``, and ``_class_path`` when the command line wrote it). :class:`~denselora.training.FineTuner` (or the
  subclass named) is built from them with jsonargparse, as LightningCLI builds it, its model is configured
  (base + fresh adapter), the checkpoint's record is checked against it and its tensors are copied in.
- **An exported adapter folder** (``<run>/adapter/``) is DenseLoRA's own format (``adapter_config.json`` with
  ``"format": "denselora-adapter"``) or PEFT's (``"peft_type"``). Its base is ``pretrained`` when given, else the
  one the run's ``config.yaml`` beside the folder names (its ``model`` section, built as above).
- **A bare base** is any ``model.pretrained`` spec (:func:`denselora.models.base_model_from_spec`).

A base built from a config (``model_config``, random weights) is drawn from the run's seed, as the fine-tuner drew
it: the seed recorded in the run's ``environment.json`` (or its ``config.yaml``). Pretrained bases need no seed.

lm-eval runs a ``transformers.PreTrainedModel``; for a PEFT adapter that is the model under the ``PeftModel``
(``get_base_model()``), which holds PEFT's injected layers, so the adapter is in every forward pass.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from denselora.dtypes import DTYPES
from denselora.errors import (
    AdapterMismatchError,
    CheckpointMismatchError,
    ConfigError,
    MissingRunFileError,
    UnreadableFileError,
)
from denselora.methods import DenseLoRA
from denselora.methods.denselora.saving import ADAPTER_CONFIG_FILE
from denselora.methods.denselora.saving import FORMAT as DENSELORA_FORMAT
from denselora.models import base_model_from_spec, load_tokenizer
from denselora.models.choice import choose_tokenizer
from denselora.run_layout import CHECKPOINTS_DIR, CONFIG_FILE, ENVIRONMENT_FILE
from denselora.training import FineTuner, checkpoint_contents

__all__ = [
    "LoadedModel",
    "check_model_options",
    "default_tokenizer",
    "fine_tuner_from_arguments",
    "load_adapter_folder",
    "load_base",
    "load_checkpoint",
    "load_model",
    "run_dir_of",
]


@dataclass
class LoadedModel:
    """A model ready for lm-eval, and what it is.

    Attributes:
        model: the ``transformers`` model lm-eval runs, in eval mode (for PEFT, the model under the ``PeftModel``,
            which holds the injected adapter layers).
        tokenizer: its tokenizer.
        kind: ``"checkpoint"``, ``"adapter"`` or ``"base"``.
        method: the adapter method (``"denselora"``, ``"lora"``, ``"dora"``, ``"vera"``, ...), ``None`` for a base.
        base: the base model, as its source describes it.
        path: the checkpoint file or adapter folder (``None`` for a base).
    """

    model: nn.Module
    tokenizer: Any
    kind: str
    method: str | None
    base: str
    path: Path | None

    def describe(self) -> str:
        """What is evaluated, in one line: ``denselora checkpoint runs/x/last.ckpt on denselora/quickstart-base``."""
        if self.kind == "base":
            return f"the base {self.base}, no adapter"
        return f"{self.method} {self.kind} {self.path} on {self.base}"


def check_model_options(ckpt_path: Any, adapter: Any, pretrained: Any) -> None:
    """Refuse any combination but one of ``ckpt_path``, ``adapter``, ``pretrained``, or ``adapter`` with ``pretrained``.

    Raises:
        ConfigError: none is given, or ``ckpt_path`` comes with another.
    """
    given = [
        name for name, value in (("ckpt_path", ckpt_path), ("adapter", adapter), ("pretrained", pretrained)) if value
    ]
    if not given or (ckpt_path and len(given) > 1):
        raise ConfigError(
            "give exactly one model to evaluate: --ckpt_path (a run's .ckpt), --adapter (an exported adapter folder, "
            "optionally with --pretrained for its base) or --pretrained (a bare base); got "
            f"{', '.join('--' + name for name in given) or 'none'}"
        )


def load_model(
    ckpt_path: str | os.PathLike | None = None,
    adapter: str | os.PathLike | None = None,
    pretrained: str | None = None,
    tokenizer: str | None = None,
    dtype: str | None = None,
) -> LoadedModel:
    """Load the model to evaluate from exactly one source (see the module docstring).

    Args:
        ckpt_path: a run's checkpoint file.
        adapter: an exported adapter folder; ``pretrained`` then names its base (default: the run's config.yaml).
        pretrained: a bare base to evaluate, or the base of ``adapter``.
        tokenizer: the tokenizer spec (default: the run's, or for a bare base :func:`default_tokenizer`).
        dtype: the dtype of the weights (``float32``, ``bfloat16``, ...; default: the run's, else float32).

    Raises:
        ConfigError: not exactly one source, an unknown dtype, or a setting that does not build.
        MissingRunFileError: the checkpoint, the adapter folder or the config that names its base is missing.
        CheckpointMismatchError, AdapterMismatchError: the adapter does not fit the base it is loaded into.
    """
    check_model_options(ckpt_path, adapter, pretrained)
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if ckpt_path:
        return load_checkpoint(ckpt_path, tokenizer=tokenizer, dtype=dtype)
    if adapter:
        return load_adapter_folder(adapter, pretrained=pretrained, tokenizer=tokenizer, dtype=dtype)
    return load_base(pretrained, tokenizer=tokenizer, dtype=dtype)


def run_dir_of(ckpt_path: str | os.PathLike | None = None, adapter: str | os.PathLike | None = None) -> Path | None:
    """The run directory of a checkpoint (the folder above ``checkpoints/``, else the file's own folder) or of an
    adapter folder (its parent); ``None`` for neither."""
    if ckpt_path:
        folder = Path(ckpt_path).expanduser().absolute().parent
        return folder.parent if folder.name == CHECKPOINTS_DIR else folder
    if adapter:
        return Path(adapter).expanduser().absolute().parent
    return None


def default_tokenizer(pretrained: str) -> str:
    """The tokenizer of a bare base: its own (the quickstart base's is the built-in tiny one)."""
    return choose_tokenizer(None, base_model_from_spec(pretrained))


# ------------------------------------------------------------------------------------------------- checkpoint
def load_checkpoint(path: str | os.PathLike, tokenizer: str | None = None, dtype: str | None = None) -> LoadedModel:
    """A run's checkpoint: the fine-tuner rebuilt from its ``hyper_parameters``, the adapter tensors loaded.

    Raises:
        MissingRunFileError: no such file.
        UnreadableFileError: the file is not a PyTorch checkpoint.
        CheckpointMismatchError: it was not written by this trainer, its arguments no longer build, or its adapter
            does not fit the model they build.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingRunFileError(
            f"{path}: no such checkpoint file (a run keeps its checkpoints in <run>/{CHECKPOINTS_DIR}/, e.g. last.ckpt)"
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as err:
        raise UnreadableFileError(f"{path} cannot be read as a checkpoint: {_one_line(err)}") from None
    arguments = checkpoint.get("hyper_parameters") if isinstance(checkpoint, dict) else None
    if not isinstance(arguments, dict) or "adapter" not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointMismatchError(
            f"{path} holds no fine-tuner arguments and adapter record: it was not written by denselora's trainer"
        )
    arguments = dict(arguments)
    arguments.pop("_instantiator", None)  # Lightning's note of how the command line built it, not an argument
    if tokenizer is not None:
        arguments["tokenizer"] = tokenizer
    if dtype is not None:
        arguments["dtype"] = dtype
    module = fine_tuner_from_arguments(arguments, f"{path} (its hyper_parameters)")
    with _run_seed(run_dir_of(ckpt_path=path)):
        module.configure_model()
    checkpoint_contents.check(checkpoint, module.adapter, module.model, resuming=False)
    checkpoint_contents.load_adapter_tensors(checkpoint["state_dict"], module.adapter, module.model)
    return _loaded(module.model, module.tokenizer, "checkpoint", module.adapter.method, _describe_base(module), path)


def fine_tuner_from_arguments(arguments: dict[str, Any], where: str):
    """Build the fine-tuner from its arguments in plain values, as LightningCLI builds it from a config.

    Args:
        arguments: the ``__init__`` arguments; ``_class_path`` names a subclass (default: ``FineTuner``), and a
            ``{class_path, init_args}`` value (the adapter, a base source) is built into its object.
        where: what the arguments come from, for messages.

    Raises:
        CheckpointMismatchError: the class or an argument is unknown to this version of denselora.
        UserError: the fine-tuner refuses a setting (as it would in ``fit``).
    """
    from jsonargparse import ArgumentParser

    arguments = dict(arguments)
    class_path = arguments.pop("_class_path", None)
    cls = FineTuner if class_path is None else _import_class(class_path, where)
    if not (isinstance(cls, type) and issubclass(cls, FineTuner)):
        raise CheckpointMismatchError(f"{where}: {class_path} is not a denselora.training.FineTuner")
    # The class itself, not "the class or a subclass" as LightningCLI declares it: a setting the fine-tuner refuses
    # then surfaces as its own one-line error instead of inside jsonargparse's report on every alternative.
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "module", fail_untyped=False)
    try:
        config = parser.parse_object({"module": arguments})
        instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
        return instantiate(config).module
    except argparse.ArgumentError as err:
        raise CheckpointMismatchError(
            f"{where}: the fine-tuner's arguments do not build with this version of denselora: {_one_line(err)}"
        ) from None


def _import_class(class_path: str, where: str) -> type:
    module_name, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise CheckpointMismatchError(f"{where}: cannot import {class_path} ({err})") from None


# --------------------------------------------------------------------------------------------- adapter folder
def load_adapter_folder(
    path: str | os.PathLike, pretrained: str | None = None, tokenizer: str | None = None, dtype: str | None = None
) -> LoadedModel:
    """An exported adapter folder, DenseLoRA's format or PEFT's, loaded into its base.

    Args:
        path: the folder (``<run>/adapter``).
        pretrained: its base; default: the base the run's ``config.yaml`` (``<path>/../config.yaml``) names.
        tokenizer: default: the run's (``data.init_args.tokenizer``), or for ``pretrained`` :func:`default_tokenizer`.
        dtype: default: the run's, else float32.

    Raises:
        MissingRunFileError: the folder, its ``adapter_config.json`` or (without ``pretrained``) the run's config is
            missing.
        UnreadableFileError: ``adapter_config.json`` is neither format.
        AdapterMismatchError: the adapter does not fit the base.
    """
    folder = Path(path).expanduser()
    config_path = folder / ADAPTER_CONFIG_FILE
    if not folder.is_dir():
        raise MissingRunFileError(f"{folder}: no such adapter folder (a run exports its adapter to <run>/adapter/)")
    if not config_path.is_file():
        raise MissingRunFileError(
            f"{config_path}: no such file; an exported adapter folder holds {ADAPTER_CONFIG_FILE} and its tensors"
        )
    try:
        saved = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UnreadableFileError(f"{config_path} is not JSON ({err})") from None
    if not isinstance(saved, dict) or not (saved.get("format") == DENSELORA_FORMAT or "peft_type" in saved):
        raise UnreadableFileError(
            f'{config_path} is neither a DenseLoRA adapter config ("format": "{DENSELORA_FORMAT}") nor a PEFT one '
            '("peft_type")'
        )

    if pretrained:
        base, tokenizer_object, base_name = _build_base(pretrained, tokenizer, dtype)
    else:
        run_config = folder.absolute().parent / CONFIG_FILE
        if not run_config.is_file():
            raise MissingRunFileError(
                f"{run_config}: no such file, so the adapter's base is unknown; give it with --pretrained"
            )
        module = fine_tuner_from_arguments(_model_arguments(run_config, tokenizer, dtype), str(run_config))
        with _run_seed(run_dir_of(adapter=folder)), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(os.environ.get("PL_GLOBAL_SEED", 0)))  # as FineTuner.configure_model seeds it
            base = module.build_base_model()
        tokenizer_object, base_name = module.tokenizer, _describe_base(module)

    if saved.get("format") == DENSELORA_FORMAT:
        try:
            model = DenseLoRA().load(base, folder)  # the saved config decides; the instance's fields do not count
        except FileNotFoundError as err:
            raise MissingRunFileError(f"{folder}: {err}") from None
        method = DenseLoRA.method
    else:
        model = _load_peft(base, folder, base_name)
        method = str(saved["peft_type"]).lower()
    return _loaded(model, tokenizer_object, "adapter", method, base_name, folder)


def _load_peft(base: nn.Module, folder: Path, base_name: str) -> nn.Module:
    from peft import PeftModel

    try:
        return PeftModel.from_pretrained(base, str(folder))
    except (RuntimeError, ValueError, KeyError) as err:  # shapes that differ, target modules the base lacks
        raise AdapterMismatchError(
            f"the PEFT adapter {folder} does not fit the base {base_name}: {_one_line(err)}"
        ) from None
    except OSError as err:
        raise MissingRunFileError(f"{folder}: {_one_line(err)}") from None


def _model_arguments(run_config: Path, tokenizer: str | None, dtype: str | None) -> dict[str, Any]:
    """The fine-tuner's arguments from a run's ``config.yaml``: its ``model`` section, with the tokenizer that the
    command line links from the data module."""
    try:
        config = yaml.safe_load(run_config.read_text(encoding="utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise UnreadableFileError(f"{run_config} is not YAML ({_one_line(err)})") from None
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict):
        raise UnreadableFileError(f"{run_config} has no model section; give the adapter's base with --pretrained")
    arguments = dict(model.get("init_args") or {})
    if model.get("class_path"):
        arguments["_class_path"] = model["class_path"]
    data_tokenizer = ((config.get("data") or {}).get("init_args") or {}).get("tokenizer")
    if tokenizer or data_tokenizer:
        arguments["tokenizer"] = tokenizer or data_tokenizer
    if dtype is not None:
        arguments["dtype"] = dtype
    return arguments


# ------------------------------------------------------------------------------------------------------ base
def load_base(pretrained: str, tokenizer: str | None = None, dtype: str | None = None) -> LoadedModel:
    """A bare base model, no adapter (``pretrained`` as ``model.pretrained`` takes it)."""
    base, tokenizer_object, base_name = _build_base(pretrained, tokenizer, dtype)
    return _loaded(base, tokenizer_object, "base", None, base_name, None)


def _build_base(pretrained: str, tokenizer: str | None, dtype: str | None):
    source = base_model_from_spec(pretrained)
    tokenizer_object = load_tokenizer(tokenizer or default_tokenizer(pretrained))
    base = source.build(DTYPES[dtype] if dtype else None, tokenizer_object)
    return base, tokenizer_object, source.describe()


# ---------------------------------------------------------------------------------------------------- shared
def _loaded(model: nn.Module, tokenizer, kind: str, method: str | None, base: str, path: Path | None) -> LoadedModel:
    from transformers import PreTrainedModel

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT: the injected model
    if not isinstance(inner, PreTrainedModel):
        raise ConfigError(
            f"lm-eval evaluates transformers models; the model to evaluate is a {type(inner).__name__} "
            "(a FineTuner subclass whose build_base_model returns a plain torch module)"
        )
    return LoadedModel(inner.eval(), tokenizer, kind, method, base, path)


def _describe_base(module) -> str:
    if module.base is not None:
        return module.base.describe()
    return f"{type(module).__name__}.build_base_model"


@contextmanager
def _run_seed(run_dir: Path | None) -> Iterator[None]:
    """``PL_GLOBAL_SEED`` set to the run's seed while the fine-tuner builds its model (it seeds from it), then
    put back; left as it is when the run recorded none."""
    seed = _recorded_seed(run_dir) if run_dir is not None else None
    if seed is None:
        yield
        return
    saved = os.environ.get("PL_GLOBAL_SEED")
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PL_GLOBAL_SEED", None)
        else:
            os.environ["PL_GLOBAL_SEED"] = saved


def _recorded_seed(run_dir: Path) -> int | None:
    # environment.json holds the seed the run used, also when config.yaml let Lightning draw one (`true`).
    try:
        seed = json.loads((run_dir / ENVIRONMENT_FILE).read_text(encoding="utf-8")).get("seed")
    except (OSError, ValueError, AttributeError):
        seed = None
    if seed is None:
        try:
            seed = (yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8")) or {}).get("seed_everything")
        except (OSError, yaml.YAMLError, AttributeError):
            seed = None
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None


def _one_line(err: BaseException | str) -> str:
    return " ".join(str(err).split())
