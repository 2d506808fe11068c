"""Finding the adapter matrices to watch: DenseLoRA's ``M``, and ``r x r`` windows of LoRA's ``A`` and ``B``."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from denselora.adapter.layer import DenseLoRALinear

__all__ = ["TrackedMatrix", "find_tracked_matrices"]


class WatchedMatrixName:
    """The names of a watched matrix, from its ``layer``, ``target`` and ``matrix`` fields."""

    layer: int
    target: str
    matrix: str

    @property
    def group(self) -> str:
        """The adapted layer, e.g. ``"layer3.up_proj"``: one heatmap image per group."""
        return f"layer{self.layer}.{self.target}"

    @property
    def key(self) -> str:
        """A unique name, e.g. ``"layer3.up_proj/M"``."""
        return f"{self.group}/{self.matrix}"


@dataclass(frozen=True)
class TrackedMatrix(WatchedMatrixName):
    """One adapter matrix whose update is watched, through an ``r x r`` window.

    DenseLoRA's ``M`` is ``r x r`` and is watched whole. LoRA's ``A`` (``r x k``) and ``B`` (``d x r``) are far
    larger, so, as in the paper's App. B.3, an ``r x r`` slice of each is watched: all ``r`` rows of ``A`` and a
    window of ``r`` consecutive columns, all ``r`` columns of ``B`` and a window of ``r`` consecutive rows. The
    window's position is drawn once from a seed and the matrix's name, so every step, every run with the same
    seed, and a resumed run show the same entries.

    Attributes:
        layer: the block index, the last integer in the module path (``3`` in ``model.layers.3.mlp.up_proj``).
        target: the adapted module's name (``up_proj``).
        matrix: ``"M"`` (DenseLoRA), ``"A"`` or ``"B"`` (LoRA, DoRA).
        method: ``"denselora"`` or ``"lora"``.
        rows: the window's rows, ``(start, stop)``.
        cols: the window's columns, ``(start, stop)``.
        parameter: the live parameter (not copied).
    """

    layer: int
    target: str
    matrix: str
    method: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    parameter: nn.Parameter = field(repr=False, compare=False)

    def window(self) -> Tensor:
        """A float32 CPU copy of the watched entries, shape ``(rows[1] - rows[0], cols[1] - cols[0])``."""
        with torch.no_grad():
            view = self.parameter.detach()[self.rows[0] : self.rows[1], self.cols[0] : self.cols[1]]
            return view.to(device="cpu", dtype=torch.float32, copy=True)


def find_tracked_matrices(
    model: nn.Module,
    layers: Sequence[int] | None = (0,),
    targets: Sequence[str] | None = None,
    seed: int = 0,
) -> list[TrackedMatrix]:
    """The adapter matrices of ``model`` to watch, in module order.

    Finds DenseLoRA layers (:class:`denselora.DenseLoRALinear`, matrix ``M``) and PEFT LoRA layers (LoRA and
    DoRA, matrices ``A`` and ``B`` of the active adapter) anywhere in ``model``, so a LightningModule that holds
    the adapted model can be passed as it is. Other methods (VeRA) have neither and yield an empty list.

    Args:
        model: the adapted model, or any module containing it.
        layers: block indices to watch; negative ones count from the last block (``-1``); ``None``: all.
        targets: module names to watch (``["q_proj", "up_proj"]``); ``None``: every adapted name.
        seed: where LoRA's ``r x r`` windows fall (the same seed, the same windows).

    Returns:
        One entry per watched matrix.
    """
    candidates = _adapted_modules(model)
    indices = sorted({layer for layer, _, _ in candidates})
    wanted_layers = None if layers is None else {_resolve_layer(i, indices) for i in layers}
    wanted_targets = None if targets is None else set(targets)
    tracked = []
    for layer, target, module in candidates:
        if wanted_layers is not None and layer not in wanted_layers:
            continue
        if wanted_targets is not None and target not in wanted_targets:
            continue
        tracked.extend(_matrices_of(module, layer, target, seed))
    return tracked


def _adapted_modules(model: nn.Module) -> list[tuple[int, str, nn.Module]]:
    lora_layer = _peft_lora_layer_class()
    found = []
    ordinal: dict[str, int] = {}
    for path, module in model.named_modules():
        if isinstance(module, DenseLoRALinear) or (lora_layer is not None and isinstance(module, lora_layer)):
            target = path.rpartition(".")[2]
            position = ordinal.get(target, 0)
            ordinal[target] = position + 1
            found.append((_layer_index(path, position), target, module))
    return found


def _peft_lora_layer_class():
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft is a dependency, but a DenseLoRA-only install works without it
        return None
    return LoraLayer


def _layer_index(path: str, position: int) -> int:
    """The last integer component of a module path; without one, the layer's position among its namesakes."""
    numbers = [int(part) for part in path.split(".") if part.isdigit()]
    return numbers[-1] if numbers else position


def _resolve_layer(index: int, indices: list[int]) -> int:
    if index >= 0 or not indices:
        return index
    return indices[index] if -index <= len(indices) else index


def _matrices_of(module: nn.Module, layer: int, target: str, seed: int) -> list[TrackedMatrix]:
    if isinstance(module, DenseLoRALinear):
        r = module.r
        return [TrackedMatrix(layer, target, "M", "denselora", (0, r), (0, r), module.M)]
    adapter = module.active_adapters[0]
    a, b = module.lora_A[adapter].weight, module.lora_B[adapter].weight  # (r, k) and (d, r)
    r = a.shape[0]
    key = f"layer{layer}.{target}"
    start_a = _window_start(a.shape[1], r, seed, f"{key}/A")
    start_b = _window_start(b.shape[0], r, seed, f"{key}/B")
    return [
        TrackedMatrix(layer, target, "A", "lora", (0, r), (start_a, start_a + min(r, a.shape[1])), a),
        TrackedMatrix(layer, target, "B", "lora", (start_b, start_b + min(r, b.shape[0])), (0, r), b),
    ]


def _window_start(length: int, width: int, seed: int, name: str) -> int:
    # A string-seeded generator: the window does not depend on which other matrices are watched.
    generator = random.Random(zlib.crc32(f"{seed}:{name}".encode()))
    return generator.randint(0, max(0, length - width))
