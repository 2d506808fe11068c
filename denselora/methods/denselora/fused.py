"""One autograd function for a whole DenseLoRA linear layer: ``W0 h + b + s * act(W_d M act(W_e drop(h)))``.

Plain autograd keeps, per adapted layer, the dropped copy of the input (``N x k``) and the decoder's
pre-activation (``N x d``) for backward, and launches a handful of elementwise kernels over ``d``-wide
tensors. Here forward keeps only two ``N x r`` intermediates (the encoder's pre-activation and ``M``'s output)
plus, while the encoder trains, the layer input its gradient needs (layers that read the same input share
it); backward recomputes the ``d``-wide pre-activation with one ``N x r x d`` product. Dropout masks
(:mod:`denselora.methods.denselora.dropout_masks`) are either kept as the positions of the dropped entries (a CPU's:
``8p`` bytes per entry) or drawn again from the call's seed (a GPU's dense masks). Masks, activations and
gradients are applied in place on fresh ``d``-wide buffers, the update is added into the base product's output
buffer, and one in-place ``addmm`` sums the input gradients of the two paths.

The result equals :func:`denselora.methods.denselora.functional.denselora_delta` added to the base output, up to the
order of floating-point operations (dropout masks aside, which come from a different generator).

``kernel="triton"`` computes the same layer with the Triton kernels of
:mod:`denselora.methods.denselora.triton_kernels`: the base products stay with torch, and each pass over an input,
output or gradient (``k`` or ``d`` wide) is one kernel that also does the ``r``-deep product, activation, dropout
and scale around it. Its masks come from Triton's counter-based generator keyed on the same per-call seed, so
backward keeps no mask and draws none: each kernel computes the bits it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from denselora.methods.denselora.dropout_masks import DropMask, draw_seed, drop_masks
from denselora.methods.denselora.options import UpdateOptions

if TYPE_CHECKING:
    from denselora.methods.denselora.triton_kernels import Dropout

__all__ = ["KERNELS", "fused_denselora_linear"]

#: The implementations of the fused layer: ``"torch"`` (torch operators, the default everywhere) and ``"triton"``
#: (:mod:`denselora.methods.denselora.triton_kernels`: a GPU, or a CPU under Triton's interpreter).
KERNELS = ("torch", "triton")

_NO_MASKS = (None, None, None)


def _masks(
    seed: int | None, options: UpdateOptions, rows: torch.Size, weight: Tensor, M: Tensor, device: torch.device
) -> tuple[DropMask | None, ...]:
    """The call's masks for the input, the code and the update: ``rows`` by ``k``, ``r`` and ``d``.

    ``seed`` is ``None`` when no dropout applies (evaluation, or a zero probability).
    """
    if seed is None:
        return _NO_MASKS
    d, k = weight.shape
    shapes = [(*rows, width) for width in (k, M.shape[0], d)[: options.mask_count]]
    return (*drop_masks(seed, shapes, options.dropout, device), None, None)[:3]


def _fresh(t: Tensor, dtype: torch.dtype) -> Tensor:
    """A contiguous copy of ``t`` in ``dtype`` that may be changed in place."""
    return t.to(dtype=dtype, memory_format=torch.contiguous_format, copy=True)


def _act(t: Tensor, gelu: bool) -> Tensor:
    return F.gelu(t) if gelu else t


def _act_backward(grad: Tensor, pre: Tensor, gelu: bool) -> Tensor:
    return torch.ops.aten.gelu_backward(grad, pre) if gelu else grad


def _code(a: Tensor, gelu: bool, mask: DropMask | None) -> Tensor:
    """``drop(act(a))``, the ``N x r`` code that ``M`` multiplies (cheap enough to recompute in backward)."""
    if mask is None:
        return _act(a, gelu)
    z = F.gelu(a) if gelu else a.clone(memory_format=torch.contiguous_format)
    return mask.zero_(z).mul_(mask.scale)


def _forward(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    encoder: Tensor,
    M: Tensor,
    decoder: Tensor,
    options: UpdateOptions,
    seed: int | None,
) -> tuple[Tensor, Tensor, Tensor, tuple[DropMask | None, ...]]:
    """The layer's output ``(N, d)`` and the two ``(N, r)`` tensors backward needs, with the call's masks.

    ``x`` is ``(N, k)`` (or ``(..., k)`` when no backward follows); ``seed`` is ``None`` without dropout.
    """
    out = F.linear(x, weight, bias)
    dtype = M.dtype
    gelu = options.gelu
    mask_x, mask_z, mask_u = _masks(seed, options, x.shape[:-1], weight, M, x.device)
    if mask_x is None:
        a = F.linear(x if x.dtype == dtype else x.to(dtype), encoder)
    else:
        a = F.linear(mask_x.zero_(_fresh(x, dtype)), encoder).mul_(mask_x.scale)
    c = F.linear(_code(a, gelu, mask_z), M)
    u = F.linear(c, decoder)
    if gelu:
        u = torch.ops.aten.gelu_(u)
    if mask_u is not None:
        mask_u.zero_(u)
    # Adding exact zeros leaves the base output bit for bit (a zero decoder at initialisation); a mixed-dtype
    # add rounds once, into the output's dtype. The scale is applied on its own: with torch 2.13, inductor
    # turns ``mm(x, W.T).add_(u, alpha=s)`` into ``x W.T + u``, dropping alpha (the kind of pytorch/pytorch#167313).
    out.add_(u.mul_(options.scale * (mask_u.scale if mask_u else 1.0)))
    return out, a, c, (mask_x, mask_z, mask_u)


class _FusedDenseLoRALinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, encoder, M, decoder, options, seed):
        out, a, c, masks = _forward(x, weight, bias, encoder, M, decoder, options, seed)
        masks = [mask for mask in masks if mask is not None]
        # Positions (a CPU's masks) cost 8p bytes per entry: kept. Dense masks (a GPU's) are drawn again.
        kept = [mask for mask in masks if mask.positions is not None]
        ctx.kept_masks = [(mask.shape, mask.scale) for mask in kept]
        # The input serves only the encoder's gradient: a frozen pair ("Freeze") does not keep it.
        x_kept = x if encoder.requires_grad else None
        ctx.save_for_backward(x_kept, weight, encoder, M, decoder, a, c, *(mask.positions for mask in kept))
        ctx.options = options
        ctx.seed = seed
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, encoder, M, decoder, a, c, *positions = ctx.saved_tensors
        options = ctx.options
        gelu = options.gelu
        needs_x, _, _, needs_encoder, needs_M, needs_decoder = ctx.needs_input_grad[:6]
        dtype = M.dtype

        if ctx.kept_masks:
            kept = [DropMask(shape, s, positions=at) for (shape, s), at in zip(ctx.kept_masks, positions, strict=True)]
            mask_x, mask_z, mask_u = (*kept, None, None)[:3]
        else:
            mask_x, mask_z, mask_u = _masks(ctx.seed, options, grad_out.shape[:-1], weight, M, grad_out.device)
        u_pre = c @ decoder.t()
        g = grad_out if grad_out.dtype == dtype else grad_out.to(dtype)
        if gelu:
            g_pre = torch.ops.aten.gelu_backward.grad_input(g, u_pre, grad_input=u_pre)
        else:
            g_pre = g if mask_u is None else _fresh(g, dtype)  # grad_out itself is not ours to change
        if mask_u is not None:
            mask_u.zero_(g_pre)
        del u_pre, g
        # The output scale (and the last dropout's) multiplies r-wide results only.
        g_scale = options.scale * (mask_u.scale if mask_u is not None else 1.0)
        grad_decoder = (g_pre.t() @ c).mul_(g_scale) if needs_decoder else None
        g_c = (g_pre @ decoder).mul_(g_scale)
        del g_pre

        grad_M = g_c.t() @ _code(a, gelu, mask_z) if needs_M else None
        if not (needs_encoder or needs_x):  # frozen pairs ("Freeze") and an input without gradient
            return None, None, None, None, grad_M, grad_decoder, None, None
        g_z = g_c @ M
        if mask_z is not None:
            mask_z.zero_(g_z).mul_(mask_z.scale)
        g_a = _act_backward(g_z, a, gelu)

        if mask_x is not None:
            g_a = g_a * mask_x.scale
        grad_encoder = None
        if needs_encoder:
            x_used = x.to(dtype) if mask_x is None else mask_x.zero_(_fresh(x, dtype))
            grad_encoder = g_a.t() @ x_used
        grad_x = None
        if needs_x:
            g_x = g_a @ encoder
            if mask_x is not None:
                mask_x.zero_(g_x)
            # The two paths' input gradients meet in one in-place product-accumulate.
            grad_x = g_x.to(grad_out.dtype).addmm_(grad_out, weight)
        return grad_x, None, None, grad_encoder, grad_M, grad_decoder, None, None


def _triton_kernels() -> ModuleType:
    """:mod:`denselora.methods.denselora.triton_kernels`, imported on first use.

    Triton is optional (the ``triton`` extra), and reads ``TRITON_INTERPRET`` as it loads: the package imports
    without it, and a test run may choose the interpreter before the first use.

    Raises:
        RuntimeError: Triton is not installed.
    """
    try:
        from denselora.methods.denselora import triton_kernels as kernels
    except ModuleNotFoundError as err:
        if err.name != "triton":
            raise
        raise RuntimeError("kernel='triton' needs Triton: pip install -e .[triton]") from None
    return kernels


def _triton_dropouts(seed: int | None, options: UpdateOptions) -> tuple[Dropout | None, ...]:
    """The call's dropout at the input, after the encoder and after the decoder (``None`` where none applies)."""
    if seed is None:
        return _NO_MASKS
    dropout = _triton_kernels().Dropout(seed, options.dropout)
    return (dropout, *[dropout if options.mask_count == 3 else None] * 2)


def _triton_forward(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    encoder: Tensor,
    M: Tensor,
    decoder: Tensor,
    options: UpdateOptions,
    seed: int | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`_forward` with the Triton kernels: the output ``(..., d)`` and ``a``, ``c`` (``(N, r)``)."""
    kernels = _triton_kernels()
    drop_x, drop_z, drop_u = _triton_dropouts(seed, options)
    out = F.linear(x, weight, bias)
    a = kernels.encode(x, encoder, drop_x)
    c = F.linear(kernels.code(a, options.gelu, drop_z), M)
    kernels.decode_add_(out.view(-1, out.shape[-1]), c, decoder, options.gelu, drop_u, options.scale)
    return out, a, c


class _TritonDenseLoRALinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, encoder, M, decoder, options, seed):
        out, a, c = _triton_forward(x, weight, bias, encoder, M, decoder, options, seed)
        ctx.save_for_backward(x if encoder.requires_grad else None, weight, encoder, M, decoder, a, c)
        ctx.options = options
        ctx.seed = seed
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, encoder, M, decoder, a, c = ctx.saved_tensors
        options = ctx.options
        needs_x, _, _, needs_encoder, needs_M, needs_decoder = ctx.needs_input_grad[:6]
        kernels = _triton_kernels()
        drop_x, drop_z, drop_u = _triton_dropouts(ctx.seed, options)

        # One pass over the output gradient: s * act'(W_d c) * drop3(grad_out), the scales included.
        g_pre = kernels.decode_backward(grad_out, c, decoder, options.gelu, drop_u, options.scale)
        grad_decoder = g_pre.t() @ c if needs_decoder else None
        g_c = g_pre @ decoder
        del g_pre

        grad_M = g_c.t() @ kernels.code(a, options.gelu, drop_z) if needs_M else None
        if not (needs_encoder or needs_x):
            return None, None, None, None, grad_M, grad_decoder, None, None
        g_a = kernels.code_backward(a, g_c @ M, options.gelu, drop_z, drop_x.scale if drop_x is not None else 1.0)
        grad_encoder = kernels.encoder_grad(g_a, x, drop_x) if needs_encoder else None
        grad_x = None
        if needs_x:
            # The base product's input gradient, then the update's added into it, masked, in one pass.
            grad_x = kernels.input_grad_add_(grad_out.mm(weight), g_a, encoder, drop_x)
        return grad_x, None, None, grad_encoder, grad_M, grad_decoder, None, None


def fused_denselora_linear(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    encoder: Tensor,
    M: Tensor,
    decoder: Tensor,
    options: UpdateOptions,
    *,
    training: bool = False,
    kernel: str = "torch",
) -> Tensor:
    """A frozen linear layer plus its DenseLoRA update, in one autograd node.

    Args:
        x: the layer input, shape ``(..., k)``.
        weight: the frozen base weight ``W0``, shape ``(d, k)``; it receives no gradient.
        bias: the frozen base bias, shape ``(d,)``, or ``None``.
        encoder: the shared ``W_e``, shape ``(r, k)``.
        M: the layer's dense matrix, shape ``(r, r)``; its dtype is the adapter's compute dtype.
        decoder: the shared ``W_d``, shape ``(d, r)``.
        options: the scale ``s = alpha / r``, the activation (exact GELU or identity), the dropout probability
            and its sites (the input only, or also after the encoder and after the decoder).
        training: whether dropout is active.
        kernel: ``"torch"`` (the default) or ``"triton"`` (see :data:`KERNELS`); the two draw different masks
            from the same seed.

    Returns:
        ``W0 x + b + s * act(W_d M act(W_e drop(x)))`` in ``x``'s dtype, shape ``(..., d)``.

    Raises:
        ValueError: an unknown kernel, or a base weight or bias that trains.
        RuntimeError: the Triton kernel where Triton cannot run (not installed, or a CPU outside its interpreter).
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNELS}")
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
            return fused_denselora_linear(*tensors, options, training=training, kernel=kernel)
    if encoder.device != device or encoder.dtype != M.dtype:
        # The shared pair lives with the first layer of its group; a model split over devices
        # (device_map="auto") needs it next to each layer's input.
        encoder = encoder.to(device=device, dtype=M.dtype)
        decoder = decoder.to(device=device, dtype=M.dtype)
    seed = draw_seed() if training and options.dropout > 0 else None
    args = (x, weight, bias, encoder, M, decoder, options, seed)
    if kernel == "triton" and x.numel():  # an empty batch launches nothing: the torch kernel returns it
        _triton_kernels().check_device(device)
        return _triton_linear(*args)
    return _compute(_forward, _FusedDenseLoRALinear, *args)


def _compute(
    forward: Callable[..., tuple],
    function: type[torch.autograd.Function],
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    encoder: Tensor,
    M: Tensor,
    decoder: Tensor,
    options: UpdateOptions,
    seed: int | None,
) -> Tensor:
    """One kernel's layer, once the tensors are where and what they must be: its ``forward`` alone when nothing
    needs a gradient, else its autograd ``function``, whose backward works on ``(N, k)`` rows."""
    trains = x.requires_grad or M.requires_grad or encoder.requires_grad or decoder.requires_grad
    if not (trains and torch.is_grad_enabled()):
        return forward(x, weight, bias, encoder, M, decoder, options, seed)[0]
    x2 = x.reshape(-1, x.shape[-1])
    out = function.apply(x2, weight, bias, encoder, M, decoder, options, seed)
    return out.view(*x.shape[:-1], out.shape[-1])


# torch.compile runs the Triton kernels as they are, between its graphs: traced, they would be the interpreter's
# Python on a CPU, and on a GPU user kernels inside an autograd function are not what inductor captures.
@torch.compiler.disable
def _triton_linear(*args: object) -> Tensor:
    """:func:`_compute` with the Triton kernels (the arguments after ``function`` are its)."""
    return _compute(_triton_forward, _TritonDenseLoRALinear, *args)
