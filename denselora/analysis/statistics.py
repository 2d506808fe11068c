"""Numbers that say how densely a matrix was updated: the share of entries that moved, and the effective rank."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["UpdateStatistics", "effective_rank", "update_statistics"]


@dataclass(frozen=True)
class UpdateStatistics:
    """How an update ``Δ = W_now - W_start`` of one matrix is spread over its entries.

    Attributes:
        max_abs: ``max |Δ|``.
        active_share: share of entries with ``|Δ| > threshold * max |Δ|``, in ``[0, 1]``. A dense update
            (DenseLoRA's ``M`` in the paper) is close to 1; a sparse one (LoRA's ``A``, ``B``) is small.
        mean_over_max: ``mean |Δ| / max |Δ|``, in ``[0, 1]``: the same question without a threshold.
        effective_rank: :func:`effective_rank` of ``Δ``, in ``[1, min(rows, cols)]``.

    An unchanged matrix (``Δ = 0``) has every field 0.
    """

    max_abs: float
    active_share: float
    mean_over_max: float
    effective_rank: float

    def as_dict(self) -> dict[str, float]:
        return {
            "max_abs": self.max_abs,
            "active_share": self.active_share,
            "mean_over_max": self.mean_over_max,
            "effective_rank": self.effective_rank,
        }


def update_statistics(delta: Tensor, threshold: float = 0.1) -> UpdateStatistics:
    """Measure an update.

    Args:
        delta: the update ``Δ``, shape ``(rows, cols)``.
        threshold: an entry counts as active when ``|Δ|`` exceeds this fraction of ``max |Δ|``; in ``(0, 1)``.

    Returns:
        The statistics, computed in float64.
    """
    if delta.dim() != 2:
        raise ValueError(f"delta must be a matrix, got shape {tuple(delta.shape)}")
    magnitude = delta.detach().to(torch.float64).abs()
    max_abs = magnitude.max().item() if magnitude.numel() else 0.0
    if max_abs == 0.0:
        return UpdateStatistics(0.0, 0.0, 0.0, 0.0)
    return UpdateStatistics(
        max_abs=max_abs,
        active_share=(magnitude > threshold * max_abs).double().mean().item(),
        mean_over_max=magnitude.mean().item() / max_abs,
        effective_rank=effective_rank(delta),
    )


def effective_rank(matrix: Tensor) -> float:
    """The effective rank of Roy and Vetterli (2007): ``exp(H(p))`` with ``p_i = σ_i / Σ_j σ_j``.

    ``σ`` are the singular values of ``matrix`` and ``H`` the Shannon entropy (natural log). The value is 1
    for a rank-one matrix, ``n`` for ``n`` equal singular values, and in between otherwise, so it lies in
    ``[1, min(rows, cols)]``; it is 0 for the zero matrix. Unlike the numerical rank it does not jump when a
    singular value crosses a tolerance, which suits a quantity logged every few hundred steps.

    Args:
        matrix: shape ``(rows, cols)``.
    """
    singular_values = torch.linalg.svdvals(matrix.detach().to(torch.float64))
    total = singular_values.sum()
    if total.item() == 0.0:
        return 0.0
    p = singular_values / total
    p = p[p > 0]
    entropy = -(p * p.log()).sum().item()
    # Equal singular values give exp(log n) = n up to rounding; keep the documented range exact.
    return min(max(math.exp(entropy), 1.0), float(singular_values.numel()))
