"""Dropout masks drawn from a seed, so that backward regenerates them instead of keeping them in memory.

A mask is a function of ``(seed, site, shape, p)``: forward draws it, uses it and drops it; backward draws the
very same mask again. The fused DenseLoRA layer therefore saves one integer per layer for its dropouts
instead of a copy of the dropped input.

Masks come from 16-bit uniform integers (four per 64-bit draw, which is several times faster than
``bernoulli_`` on a CPU). The drop probability is therefore ``p`` rounded to a multiple of ``2**-16``
(``0.05`` becomes ``0.0499954``), and kept entries are scaled by the exact ``1 / (1 - p')`` of that rounded
probability, so the expected output is unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["DropMask", "draw_seed", "drop_mask"]

_LEVELS = 1 << 16
_GENERATORS: dict[torch.device, torch.Generator] = {}


class DropMask:
    """Which entries dropout zeroes (``drop``, boolean) and the factor the kept entries are scaled by."""

    __slots__ = ("drop", "scale")

    def __init__(self, drop: Tensor, scale: float) -> None:
        self.drop = drop
        self.scale = scale


def draw_seed() -> int:
    """A mask seed from torch's global CPU generator, so ``torch.manual_seed`` reproduces every mask.

    Drawing on the CPU needs no device synchronisation, and activation checkpointing, which restores the
    CPU RNG state before recomputing a forward, draws the same seed again.
    """
    return int(torch.randint(0, 2**62, (1,)).item())


def _generator(device: torch.device) -> torch.Generator:
    generator = _GENERATORS.get(device)
    if generator is None:
        generator = _GENERATORS[device] = torch.Generator(device=device)
    return generator


def drop_mask(seed: int, site: int, shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> DropMask:
    """The mask of dropout site ``site`` for ``seed``: the same arguments give the same mask.

    Args:
        seed: the layer call's seed (from :func:`draw_seed`).
        site: which dropout of the layer (0: input, 1: after the encoder, 2: after the decoder).
        shape: the shape of the tensor being dropped.
        p: the drop probability, ``0 < p < 1``.
        device: where the mask lives.

    Returns:
        The boolean mask of dropped entries and the scale ``1 / (1 - p')`` of the kept ones.
    """
    threshold = round(p * _LEVELS)
    if not 0 < threshold < _LEVELS:
        raise ValueError(f"dropout probability {p} rounds to {threshold}/{_LEVELS}; use 0 < p < 1 - 2**-16")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    numel = math.prod(shape)
    generator = _generator(device).manual_seed((seed * 3 + site) % 2**63)
    words = torch.empty((numel + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None, generator=generator)
    uniform = words.view(torch.int16)[:numel].view(shape)
    # int16 is uniform on [-2**15, 2**15): exactly `threshold` of its 2**16 values lie below threshold - 2**15.
    drop = uniform < threshold - _LEVELS // 2
    return DropMask(drop, _LEVELS / (_LEVELS - threshold))
