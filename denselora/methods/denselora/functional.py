"""The DenseLoRA update as a pure function of its tensors (Eq. 3-5 of the paper).

Every adapted layer computes its update through :func:`denselora_delta`, so a fused implementation can take
its place without touching the modules that hold the parameters.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from denselora.methods.denselora.options import UpdateOptions

__all__ = ["denselora_delta", "merged_delta_weight"]


def denselora_delta(
    x: Tensor,
    encoder: Tensor,
    M: Tensor,
    decoder: Tensor,
    options: UpdateOptions,
    *,
    training: bool = False,
) -> Tensor:
    """``s * act(W_d M act(W_e dropout(x))))`` for a batch of row vectors.

    Args:
        x: inputs of the adapted layer, shape ``(..., k)``.
        encoder: the shared ``W_e``, shape ``(r, k)``.
        M: the layer's dense matrix, shape ``(r, r)``.
        decoder: the shared ``W_d``, shape ``(d, r)``.
        options: the scale ``s = alpha / r``, the activation (exact GELU or identity), the dropout probability
            and where it applies (input only, or also after both activations as the authors' release).
        training: whether dropout is active.

    Returns:
        The update in the adapter's dtype, shape ``(..., d)``.
    """
    gelu = options.gelu
    p = options.dropout if training else 0.0
    inner_p = options.inner_dropout if training else 0.0
    if x.dtype != M.dtype:
        x = x.to(M.dtype)
    # The shared tensors live with the first layer of their group; a model split over devices
    # (device_map="auto") needs them next to each layer's input. A no-op on one device.
    encoder = encoder.to(device=x.device, dtype=M.dtype)
    decoder = decoder.to(device=x.device, dtype=M.dtype)

    h = F.dropout(x, p) if p else x
    z = F.linear(h, encoder)
    if gelu:
        z = F.gelu(z, approximate="none")
    if inner_p:
        z = F.dropout(z, inner_p)
    u = F.linear(F.linear(z, M), decoder)
    if gelu:
        u = F.gelu(u, approximate="none")
    if inner_p:
        u = F.dropout(u, inner_p)
    return u * options.scale


def merged_delta_weight(encoder: Tensor, M: Tensor, decoder: Tensor, scale: float) -> Tensor:
    """The weight update ``s * W_d M W_e`` (shape ``(d, k)``) of a linear (identity-activation) adapter.

    Computed in float64 so that merging rounds once, into the base weight's dtype.
    """
    return scale * (decoder.double() @ M.double() @ encoder.double())
