"""One autograd function for a whole DenseLoRA linear layer: ``W0 h + b + s * act(W_d M act(W_e drop(h)))``.

Plain autograd keeps, per adapted layer, the dropped copy of the input (``N x k``) and the decoder's
pre-activation (``N x d``) for backward, and launches a handful of elementwise kernels over ``d``-wide
tensors. Here forward keeps only two ``N x r`` intermediates (the encoder's pre-activation and ``M``'s output)
plus the layer input, which the model keeps anyway; backward recomputes the ``d``-wide pre-activation with one
``N x r x d`` product and regenerates the dropout masks from a seed (:mod:`denselora.modules.dropout_masks`).
The update is added into the base product's output buffer, and one ``addmm`` sums the input gradients of
the two paths.

The result equals :func:`denselora.modules.functional.denselora_delta` added to the base output, up to the
order of floating-point operations (dropout masks aside, which come from a different generator).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from denselora.modules.dropout_masks import DropMask, draw_seed, drop_mask

__all__ = ["fused_denselora_linear"]

_SITES = {"all": (0, 1, 2), "input": (0,)}


def _mask(seed: int | None, site: int, like: Tensor, p: float, sites: tuple[int, ...]) -> DropMask | None:
    if seed is None or site not in sites:
        return None
    return drop_mask(seed, site, like.shape, p, like.device)


def _zero_dropped(t: Tensor, mask: DropMask) -> Tensor:
    # torch.where: several times faster than masked_fill on a CPU.
    return torch.where(mask.drop, 0.0, t)


def _act(t: Tensor, gelu: bool) -> Tensor:
    return F.gelu(t) if gelu else t


def _act_backward(grad: Tensor, pre: Tensor, gelu: bool) -> Tensor:
    return torch.ops.aten.gelu_backward(grad, pre) if gelu else grad


def _code(a: Tensor, gelu: bool, mask: DropMask | None) -> Tensor:
    """``drop(act(a))``, the ``N x r`` code that ``M`` multiplies (cheap enough to recompute in backward)."""
    z = _act(a, gelu)
    if mask is None:
        return z
    return _zero_dropped(z, mask).mul_(mask.scale)


def _forward(x, weight, bias, encoder, M, decoder, scale, gelu, p, sites, seed):
    """The layer's output and the two ``r``-wide tensors backward needs."""
    out = F.linear(x, weight, bias)
    xa = x if x.dtype == M.dtype else x.to(M.dtype)
    mask_x = _mask(seed, 0, xa, p, sites)
    a = F.linear(xa if mask_x is None else _zero_dropped(xa, mask_x), encoder)
    if mask_x is not None:
        a.mul_(mask_x.scale)
    c = F.linear(_code(a, gelu, _mask(seed, 1, a, p, sites)), M)
    u = _act(F.linear(c, decoder), gelu)
    mask_u = _mask(seed, 2, u, p, sites)
    if mask_u is not None:
        u = _zero_dropped(u, mask_u)
    # Adding exact zeros leaves the base output bit for bit (a zero decoder at initialisation).
    out.add_(u if u.dtype == out.dtype else u.to(out.dtype), alpha=scale * (mask_u.scale if mask_u else 1.0))
    return out, a, c


class _FusedDenseLoRALinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, encoder, M, decoder, scale, gelu, p, sites, seed):
        out, a, c = _forward(x, weight, bias, encoder, M, decoder, scale, gelu, p, sites, seed)
        ctx.save_for_backward(x, weight, encoder, M, decoder, a, c)
        ctx.options = (scale, gelu, p, sites, seed)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, encoder, M, decoder, a, c = ctx.saved_tensors
        scale, gelu, p, sites, seed = ctx.options
        needs_x, _, _, needs_encoder, needs_M, needs_decoder = ctx.needs_input_grad[:6]
        dtype = M.dtype

        u_pre = c @ decoder.t()
        g = grad_out.to(dtype)
        mask_u = _mask(seed, 2, u_pre, p, sites)
        if mask_u is not None:
            g = _zero_dropped(g, mask_u)
        g_pre = _act_backward(g, u_pre, gelu)
        del u_pre, g
        # The output scale (and the last dropout's) multiplies r-wide results only.
        g_scale = scale * (mask_u.scale if mask_u is not None else 1.0)
        grad_decoder = (g_pre.t() @ c).mul_(g_scale) if needs_decoder else None
        g_c = (g_pre @ decoder).mul_(g_scale)
        del g_pre

        mask_z = _mask(seed, 1, a, p, sites)
        grad_M = g_c.t() @ _code(a, gelu, mask_z) if needs_M else None
        if not (needs_encoder or needs_x):  # frozen pairs ("Freeze") and an input without gradient
            return None, None, None, None, grad_M, grad_decoder, None, None, None, None, None
        g_z = g_c @ M
        if mask_z is not None:
            g_z = _zero_dropped(g_z, mask_z).mul_(mask_z.scale)
        g_a = _act_backward(g_z, a, gelu)

        xa = x.to(dtype)
        mask_x = _mask(seed, 0, xa, p, sites)
        if mask_x is not None:
            g_a = g_a * mask_x.scale
        grad_encoder = None
        if needs_encoder:
            grad_encoder = g_a.t() @ (xa if mask_x is None else _zero_dropped(xa, mask_x))
        grad_x = None
        if needs_x:
            g_x = g_a @ encoder
            if mask_x is not None:
                g_x = _zero_dropped(g_x, mask_x)
            grad_x = torch.addmm(g_x.to(grad_out.dtype), grad_out, weight)
        return grad_x, None, None, grad_encoder, grad_M, grad_decoder, None, None, None, None, None


def fused_denselora_linear(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
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
    """A frozen linear layer plus its DenseLoRA update, in one autograd node.

    Args:
        x: the layer input, shape ``(..., k)``.
        weight: the frozen base weight ``W0``, shape ``(d, k)``; it receives no gradient.
        bias: the frozen base bias, shape ``(d,)``, or ``None``.
        encoder: the shared ``W_e``, shape ``(r, k)``.
        M: the layer's dense matrix, shape ``(r, r)``; its dtype is the adapter's compute dtype.
        decoder: the shared ``W_d``, shape ``(d, r)``.
        scale: ``s = alpha / r``.
        activation: ``"gelu"`` (exact) or ``"identity"``.
        dropout: drop probability (only when ``training``).
        dropout_sites: ``"all"`` (input, after the encoder, after the decoder) or ``"input"``.
        training: whether dropout is active.

    Returns:
        ``W0 x + b + s * act(W_d M act(W_e drop(x)))`` in ``x``'s dtype, shape ``(..., d)``.
    """
    if weight.requires_grad or (bias is not None and bias.requires_grad):
        raise ValueError("the fused DenseLoRA layer needs a frozen base weight and bias")
    device = x.device
    if torch.is_autocast_enabled(device.type):
        # Autocast does not reach into a custom autograd function: cast as it would, then compute with it off.
        cast = torch.get_autocast_dtype(device.type)
        tensors = [
            t if t is None or not t.is_floating_point() else t.to(cast) for t in (x, weight, bias, encoder, M, decoder)
        ]
        with torch.autocast(device.type, enabled=False):
            return fused_denselora_linear(
                *tensors,
                scale=scale,
                activation=activation,
                dropout=dropout,
                dropout_sites=dropout_sites,
                training=training,
            )
    if encoder.device != device or encoder.dtype != M.dtype:
        # The shared pair lives with the first layer of its group; a model split over devices
        # (device_map="auto") needs it next to each layer's input.
        encoder = encoder.to(device=device, dtype=M.dtype)
        decoder = decoder.to(device=device, dtype=M.dtype)
    p = dropout if training else 0.0
    seed = draw_seed() if p > 0 else None
    gelu = activation == "gelu"
    sites = _SITES[dropout_sites]
    trains = x.requires_grad or M.requires_grad or encoder.requires_grad or decoder.requires_grad
    if not (trains and torch.is_grad_enabled()):
        return _forward(x, weight, bias, encoder, M, decoder, scale, gelu, p, sites, seed)[0]
    # Backward works on (N, k) rows.
    x2 = x.reshape(-1, x.shape[-1])
    out = _FusedDenseLoRALinear.apply(x2, weight, bias, encoder, M, decoder, scale, gelu, p, sites, seed)
    return out.view(*x.shape[:-1], out.shape[-1])
