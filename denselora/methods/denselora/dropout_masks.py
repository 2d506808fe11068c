"""Dropout masks drawn from a seed, so that backward never needs a copy of the dropped input.

A layer call's masks are a function of ``(seed, shapes, p, device)``. The fused DenseLoRA layer keeps one
integer per call and, where a mask is a short list of positions (on a CPU), those positions; dense masks are
drawn again in backward.

How a mask is drawn depends on where it is used:

* ``"positions"`` (the CPU default): the flat positions of the dropped entries. The gaps between them are
  geometric, ``ceil(log U / log(1 - p))`` with ``U`` uniform in float64, which is exactly Bernoulli(p)
  dropout up to float64 rounding. At ``p = 0.05`` this draws one random number per twenty entries instead of
  one per entry, and applying the mask writes only the dropped entries, which matters on a CPU, whose
  generator runs on one thread. Kept entries are scaled by ``1 / (1 - p)``.
* ``"dense"`` (the default elsewhere): a boolean tensor from 16-bit uniform integers, four per 64-bit draw
  of the device's counter-based generator. A list of positions would need a host synchronisation there to
  learn its length. ``p`` is rounded to a multiple of ``2**-16`` (``0.05`` becomes ``0.0499954``) and kept
  entries are scaled by the exact ``1 / (1 - p')`` of that rounded probability, so the expected output is
  unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["DropMask", "draw_seed", "drop_masks"]

_LEVELS = 1 << 16
_GENERATORS: dict[torch.device, torch.Generator] = {}


class DropMask:
    """Which entries of a tensor of ``shape`` dropout zeroes, and the factor the kept entries are scaled by.

    Exactly one of ``positions`` (sorted flat indices of the dropped entries, int64) and ``drop`` (a boolean
    tensor of ``shape``) is set.
    """

    __slots__ = ("drop", "positions", "scale", "shape")

    def __init__(
        self, shape: torch.Size, scale: float, *, positions: Tensor | None = None, drop: Tensor | None = None
    ) -> None:
        if (positions is None) == (drop is None):
            raise ValueError("a DropMask holds either positions or a boolean tensor")
        self.shape = torch.Size(shape)
        self.scale = scale
        self.positions = positions
        self.drop = drop

    def zero_(self, t: Tensor) -> Tensor:
        """Zero the dropped entries of ``t`` in place (no scaling) and return it.

        Args:
            t: a contiguous tensor of the mask's shape.
        """
        if t.shape != self.shape or not t.is_contiguous():
            raise ValueError(f"a mask of shape {tuple(self.shape)} applies to a contiguous tensor of that shape")
        if self.positions is not None:
            t.view(-1).index_fill_(0, self.positions, 0)
        else:
            t.masked_fill_(self.drop, 0)
        return t

    def dense(self) -> Tensor:
        """The mask as a boolean tensor of its shape (True where dropped)."""
        if self.drop is not None:
            return self.drop
        drop = torch.zeros(self.shape.numel(), dtype=torch.bool, device=self.positions.device)
        return drop.index_fill_(0, self.positions, True).view(self.shape)


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


def drop_masks(
    seed: int,
    shapes: Sequence[torch.Size | tuple[int, ...]],
    p: float,
    device: torch.device | str,
    layout: str | None = None,
) -> list[DropMask]:
    """The masks of one layer call's dropout sites, drawn together: the same arguments give the same masks.

    The sites' entries are laid end to end and drawn as one sequence, so a call pays for one draw however
    many sites it has; every entry of every site is dropped independently.

    Args:
        seed: the layer call's seed (from :func:`draw_seed`).
        shapes: the shapes of the tensors being dropped, one per site.
        p: the drop probability, ``0 < p < 1``.
        device: where the masks live.
        layout: ``"positions"`` or ``"dense"`` (see the module's docstring); by default positions on a CPU
            and dense elsewhere.

    Returns:
        One mask per shape, in order.
    """
    if not 0 < p < 1:
        raise ValueError(f"dropout probability {p} is outside (0, 1)")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    layout = layout or ("positions" if device.type == "cpu" else "dense")
    if layout not in ("positions", "dense"):
        raise ValueError(f"unknown mask layout {layout!r}; use 'positions' or 'dense'")
    shapes = [torch.Size(shape) for shape in shapes]
    if not shapes:
        return []
    ends = list(itertools.accumulate(shape.numel() for shape in shapes))
    starts = [0, *ends[:-1]]
    generator = _generator(device).manual_seed(seed % 2**63)
    if layout == "positions":
        drawn = _dropped_positions(ends[-1], p, generator, device)
        cuts = torch.searchsorted(drawn, torch.tensor(ends, dtype=drawn.dtype, device=device)).tolist()
        positions = drawn[: cuts[-1]].to(torch.int64)
        scale = 1 / (1 - p)
        return [
            DropMask(shape, scale, positions=positions[low:high] - start if start else positions[low:high])
            for shape, start, low, high in zip(shapes, starts, [0, *cuts[:-1]], cuts, strict=True)
        ]
    threshold = round(p * _LEVELS)
    if not 0 < threshold < _LEVELS:
        raise ValueError(f"dropout probability {p} rounds to {threshold}/{_LEVELS}; use 2**-17 < p < 1 - 2**-17")
    numel = ends[-1]
    words = torch.empty((numel + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), None, generator=generator)
    # int16 is uniform on [-2**15, 2**15): exactly `threshold` of its 2**16 values lie below threshold - 2**15.
    drop = words.view(torch.int16)[:numel] < threshold - _LEVELS // 2
    scale = _LEVELS / (_LEVELS - threshold)
    return [
        DropMask(shape, scale, drop=drop[start:end].view(shape))
        for shape, start, end in zip(shapes, starts, ends, strict=True)
    ]


def _dropped_positions(
    numel: int, p: float, generator: torch.Generator, device: torch.device, sigmas: float = 6.0
) -> Tensor:
    """Sorted flat positions (float64) in which each index below ``numel`` is present with probability ``p``.

    Positions past ``numel`` may follow; callers cut them off. Gaps are drawn in chunks of ``sigmas`` standard
    deviations above the expected count; a chunk that falls short of ``numel`` is followed by another.
    """
    log_keep = math.log1p(-p)
    chunks = []
    last = -1.0  # the position of the last drop drawn so far
    while last < numel:
        remaining = numel - last
        count = max(int(remaining * p + sigmas * math.sqrt(remaining * p) + 16), 1)
        # Gaps ceil(log U / log(1 - p)) are geometric for U uniform in (0, 1); U = 0 (odds 2**-53) gives an
        # infinite gap, which ends the draw as any gap past the end would. Float64 sums integers exactly.
        positions = torch.empty(count, dtype=torch.float64, device=device).uniform_(generator=generator)
        positions.log_().div_(log_keep).ceil_().cumsum_(0).add_(last)
        chunks.append(positions)
        last = positions[-1].item()
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks)
