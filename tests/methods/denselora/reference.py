"""An independent float64 statement of the paper's Eq. 3-5, in column-vector algebra."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def gelu_exact(t: Tensor) -> Tensor:
    return 0.5 * t * (1.0 + torch.erf(t / math.sqrt(2.0)))


def reference_output(
    h: Tensor, W0: Tensor, b, W_e: Tensor, M: Tensor, W_d: Tensor, alpha: float, r: int, activation: str = "gelu"
) -> Tensor:
    """``y = W0 h + b + s * act(W_d M act(W_e h))`` for every row of ``h`` (``(n, k)`` -> ``(n, d)``), float64."""
    act = gelu_exact if activation == "gelu" else (lambda t: t)
    cols = h.double().T  # the paper's h, one column per token
    h_prime = act(W_e.double() @ cols)  # Eq. 4: Encoder(h)
    h_hat = act(W_d.double() @ (M.double() @ h_prime))  # Eq. 5: Decoder(M h')
    y = W0.double() @ cols + (alpha / r) * h_hat  # Eq. 3
    if b is not None:
        y = y + b.double()[:, None]
    return y.T
