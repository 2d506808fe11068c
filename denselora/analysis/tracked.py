"""The adapter matrices whose updates are watched, and how a method finds its own.

Each method says which of its matrices are watched (:meth:`denselora.methods.AdapterMethod.tracked_matrices`):
DenseLoRA's whole ``M``, ``r x r`` windows of LoRA's ``A`` and ``B``; this module holds what they share.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

__all__ = ["TrackedMatrix", "watched_layers", "window_start"]


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


def watched_layers(
    model: nn.Module,
    adapted: type | tuple[type, ...],
    layers: Sequence[int] | None = (0,),
    targets: Sequence[str] | None = None,
) -> list[tuple[int, str, nn.Module]]:
    """The adapted modules of ``model`` to watch, in module order, as ``(block index, target name, module)``.

    A method's :meth:`~denselora.methods.AdapterMethod.tracked_matrices` calls it with its layer type, then says
    which matrices of each module it watches.

    Args:
        model: the adapted model, or any module containing it.
        adapted: the method's adapted-layer class(es).
        layers: block indices to watch; negative ones count from the last block (``-1``); ``None``: all.
        targets: module names to watch (``["q_proj", "up_proj"]``); ``None``: every adapted name.
    """
    candidates = []
    ordinal: dict[str, int] = {}
    for path, module in model.named_modules():
        if isinstance(module, adapted):
            target = path.rpartition(".")[2]
            position = ordinal.get(target, 0)
            ordinal[target] = position + 1
            candidates.append((_layer_index(path, position), target, module))
    indices = sorted({layer for layer, _, _ in candidates})
    wanted_layers = None if layers is None else {_resolve_layer(i, indices) for i in layers}
    return [
        (layer, target, module)
        for layer, target, module in candidates
        if (wanted_layers is None or layer in wanted_layers) and (targets is None or target in targets)
    ]


def window_start(length: int, width: int, seed: int, name: str) -> int:
    """Where an ``r``-wide window of a larger matrix starts: drawn from ``seed`` and the matrix's ``name`` alone,
    so that it does not depend on which other matrices are watched."""
    generator = random.Random(zlib.crc32(f"{seed}:{name}".encode()))
    return generator.randint(0, max(0, length - width))


def _layer_index(path: str, position: int) -> int:
    """The last integer component of a module path; without one, the layer's position among its namesakes."""
    numbers = [int(part) for part in path.split(".") if part.isdigit()]
    return numbers[-1] if numbers else position


def _resolve_layer(index: int, indices: list[int]) -> int:
    if index >= 0 or not indices:
        return index
    return indices[index] if -index <= len(indices) else index
