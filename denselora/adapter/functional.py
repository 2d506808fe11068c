"""The DenseLoRA update as a pure function of its tensors (Eq. 3-5 of the paper).

Every adapted layer computes its update through :func:`denselora_delta`, so a fused implementation can take
its place without touching the modules that hold the parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

__all__ = ["ACTIVATION_FUNCTIONS", "denselora_delta", "merged_delta_weight"]


def _identity(t: Tensor) -> Tensor:
    return t


def _exact_gelu(t: Tensor) -> Tensor:
    return F.gelu(t, approximate="none")


ACTIVATION_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {"gelu": _exact_gelu, "identity": _identity}


def denselora_delta(
    x: Tensor,
    encoder: Tensor,
    M: Tensor,
    decoder: Tensor,
    *,
    scale: float,
    activation: str = "gelu",
    dropout: float = 0.0,
    dropout_sites: str = "all",
    training: bool = False,
) -> Tensor:
    """``s * act(W_d M act(W_e dropout(x))))`` for a batch of row vectors.

    Args:
        x: inputs of the adapted layer, shape ``(..., k)``.
        encoder: the shared ``W_e``, shape ``(r, k)``.
        M: the layer's dense matrix, shape ``(r, r)``.
        decoder: the shared ``W_d``, shape ``(d, r)``.
        scale: ``s = alpha / r``.
        activation: ``"gelu"`` (exact) or ``"identity"``.
        dropout: dropout probability (only when ``training``).
        dropout_sites: ``"all"`` drops on the input and after both activations (the authors' release);
            ``"input"`` drops on the input only.
        training: whether dropout is active.

    Returns:
        The update in the adapter's dtype, shape ``(..., d)``.
    """
    act = ACTIVATION_FUNCTIONS[activation]
    p = dropout if training else 0.0
    if x.dtype != M.dtype:
        x = x.to(M.dtype)
    # The shared tensors live with the first layer of their group; a model split over devices
    # (device_map="auto") needs them next to each layer's input. A no-op on one device.
    encoder = encoder.to(device=x.device, dtype=M.dtype)
    decoder = decoder.to(device=x.device, dtype=M.dtype)
    inner_p = p if dropout_sites == "all" else 0.0

    h = F.dropout(x, p) if p else x
    z = act(F.linear(h, encoder))
    if inner_p:
        z = F.dropout(z, inner_p)
    u = act(F.linear(F.linear(z, M), decoder))
    if inner_p:
        u = F.dropout(u, inner_p)
    return u * scale


def merged_delta_weight(encoder: Tensor, M: Tensor, decoder: Tensor, scale: float) -> Tensor:
    """The weight update ``s * W_d M W_e`` (shape ``(d, k)``) of a linear (identity-activation) adapter.

    Computed in float64 so that merging rounds once, into the base weight's dtype.
    """
    return scale * (decoder.double() @ M.double() @ encoder.double())
