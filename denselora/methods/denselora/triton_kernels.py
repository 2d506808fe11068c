"""Triton kernels for the fused DenseLoRA layer: each ``d``- or ``k``-wide step in one pass, masks from a seed.

The update ``s * drop3(act(W_d c))``, ``c = M drop2(act(W_e drop1(h)))``, touches wide tensors per layer and call:
the input (``N x k``), the output (``N x d``) and, in backward, their gradients. Here each is read or written once
per use, with the narrow product (``r`` deep) computed inside the pass:

* forward: ``a = W_e drop1(h)``, the input read once, its dropout applied as it loads (:func:`encode`); the
  decoder's product, activation, dropout, scale and the add into the base product's output in one pass over the
  output (:func:`decode_add_`);
* backward: the decoder's pre-activation recomputed tile by tile and multiplied by the activation's derivative,
  the scale, the mask and the output gradient in one pass (:func:`decode_backward`); the encoder's input gradient
  added, masked, into the base product's input gradient in one pass (:func:`input_grad_add_`), and its weight
  gradient reading the input once (:func:`encoder_grad`);
* the ``N x r`` steps between (activation and dropout after the encoder) in one small kernel each way
  (:func:`code`, :func:`code_backward`).

The base products, the ``r x r`` products with ``M`` and the two products that turn the decoder's gradient input
(one ``N x d`` tensor, written once) into the decoder's and ``c``'s gradients stay with torch. Block sizes are
fixed (32 rows by 64 columns), not tuned.

Masks are never stored nor drawn by a kernel of their own: an entry's keep bit is a function of the call's seed,
its site (0 input, 1 code, 2 output), its row and its column, through Triton's counter-based Philox generator
(one 32-bit draw per entry; the entry is dropped when the draw is below ``round(p * 2**32)``, and kept entries
are scaled by the exact ``2**32 / (2**32 - threshold)``). Backward computes the same bits again from the same
seed. :func:`dropped` writes them out, for tests.

Products accumulate in float32 (float64 for float64 tensors) with IEEE inputs (no TF32). Triton is optional: the
fused layer imports this module on first use. On a CPU the kernels run under Triton's interpreter
(``TRITON_INTERPRET=1``, read when Triton is imported), which is how the test suite checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import triton
import triton.language as tl
from torch import Tensor
from triton.runtime.interpreter import InterpretedFunction

__all__ = [
    "Dropout",
    "check_device",
    "code",
    "code_backward",
    "decode_add_",
    "decode_backward",
    "dropped",
    "encode",
    "encoder_grad",
    "input_grad_add_",
    "interpreting",
]

_LEVELS = 1 << 32
_BLOCK_ROWS = 32
_BLOCK_COLS = 64


@dataclass(frozen=True)
class Dropout:
    """A layer call's dropout: its seed and probability, as the kernels read them.

    Args:
        seed: the call's seed (:func:`denselora.methods.denselora.dropout_masks.draw_seed`), below ``2**63``.
        p: the drop probability, ``2**-33 < p < 1 - 2**-33``.
    """

    seed: int
    p: float

    def __post_init__(self) -> None:
        if not 0 < self.threshold < _LEVELS:
            raise ValueError(f"dropout probability {self.p} rounds to {self.threshold}/2**32; use 0 < p < 1")

    @property
    def threshold(self) -> int:
        """An entry is dropped when its 32-bit draw is below this."""
        return round(self.p * _LEVELS)

    @property
    def scale(self) -> float:
        """The factor kept entries are multiplied by: one over the exact keep probability."""
        return _LEVELS / (_LEVELS - self.threshold)


def interpreting() -> bool:
    """Whether Triton runs its kernels in its interpreter, as on a CPU: ``TRITON_INTERPRET=1`` when it loaded."""
    return isinstance(_mask_kernel, InterpretedFunction)


def check_device(device: torch.device) -> None:
    """Raise unless the kernels can run on ``device``: a GPU, or a CPU under Triton's interpreter."""
    if device.type == "cpu" and not interpreting():
        raise RuntimeError(
            "the Triton kernels run on a CPU only in Triton's interpreter: set TRITON_INTERPRET=1 before Triton "
            "is imported, or use the torch kernel"
        )


def _pow2(n: int, least: int = 16) -> int:
    """The block size covering ``n``: a power of two, at least ``least`` (``tl.dot``'s smallest tile)."""
    return max(least, 1 << (n - 1).bit_length())


def _acc(dtype: torch.dtype):
    return tl.float64 if dtype == torch.float64 else tl.float32


def _dropout_args(dropout: Dropout | None) -> tuple[int, int, float, bool]:
    if dropout is None:
        return 0, 1, 1.0, False
    return dropout.seed, dropout.threshold, dropout.scale, True


@triton.jit
def _is_dropped(seed, rows, cols, SITE: tl.constexpr, threshold):
    """True where dropout zeroes entry ``(row, col)`` of site ``SITE``: a Philox draw keyed on the seed."""
    zero = rows * 0 + cols * 0
    draw, _, _, _ = tl.philox(seed, cols + zero, rows + zero, zero + SITE, zero)
    return draw.to(tl.int64) < threshold


@triton.jit
def _gelu(z, ACC: tl.constexpr):
    sqrt_half = tl.full((1, 1), 0.7071067811865476, ACC)
    return 0.5 * z * (1.0 + tl.math.erf(z * sqrt_half))


@triton.jit
def _gelu_grad(z, ACC: tl.constexpr):
    """The exact GELU's derivative ``Phi(z) + z phi(z)``."""
    sqrt_half = tl.full((1, 1), 0.7071067811865476, ACC)
    inv_sqrt_2pi = tl.full((1, 1), 0.3989422804014327, ACC)
    return 0.5 * (1.0 + tl.math.erf(z * sqrt_half)) + z * tl.exp(-0.5 * z * z) * inv_sqrt_2pi


@triton.jit(do_not_specialize=["seed", "threshold"])
def _mask_kernel(out_ptr, n_rows, width, seed, threshold, SITE: tl.constexpr, BLOCK_N: tl.constexpr,
                 BLOCK_C: tl.constexpr):  # fmt: skip
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)[:, None]
    cols = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)[None, :]
    inside = (rows < n_rows) & (cols < width)
    drop = _is_dropped(seed, rows, cols, SITE, threshold)
    tl.store(out_ptr + rows.to(tl.int64) * width + cols, drop.to(tl.int8), mask=inside)


@triton.jit(do_not_specialize=["seed", "threshold"])
def _encode_kernel(x_ptr, we_ptr, a_ptr, n_rows, k, r, stride_x, seed, threshold, keep_scale: tl.float64,
                   DROP: tl.constexpr, ACC: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                   BLOCK_R: tl.constexpr):  # fmt: skip
    """``a = drop1(x) W_e^T * keep_scale`` for a block of rows: ``x`` read once, dropped as it loads."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)[:, None]
    codes = tl.arange(0, BLOCK_R)[None, :]
    acc = tl.zeros((BLOCK_N, BLOCK_R), ACC)
    for start in range(0, k, BLOCK_K):
        cols = start + tl.arange(0, BLOCK_K)[None, :]
        x = tl.load(x_ptr + rows.to(tl.int64) * stride_x + cols, mask=(rows < n_rows) & (cols < k), other=0.0)
        x = x.to(we_ptr.dtype.element_ty)
        if DROP:
            x = tl.where(_is_dropped(seed, rows, cols, 0, threshold), 0.0, x)
        inner = start + tl.arange(0, BLOCK_K)[:, None]
        we_t = tl.load(we_ptr + codes * k + inner, mask=(codes < r) & (inner < k), other=0.0)
        acc = tl.dot(x, we_t, acc, input_precision="ieee", out_dtype=ACC)
    if DROP:
        acc = acc * tl.full((1, 1), keep_scale, ACC)
    tl.store(a_ptr + rows * r + codes, acc.to(a_ptr.dtype.element_ty), mask=(rows < n_rows) & (codes < r))


@triton.jit(do_not_specialize=["seed", "threshold"])
def _code_kernel(a_ptr, g_ptr, out_ptr, n_rows, r, seed, threshold, scale: tl.float64, GELU: tl.constexpr,
                 DROP: tl.constexpr, BACKWARD: tl.constexpr, ACC: tl.constexpr, BLOCK_N: tl.constexpr,
                 BLOCK_R: tl.constexpr):  # fmt: skip
    """Forward ``drop2(act(a)) * scale``; backward ``act'(a) * drop2(g) * scale``. ``N x r``, site 1."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)[:, None]
    codes = tl.arange(0, BLOCK_R)[None, :]
    inside = (rows < n_rows) & (codes < r)
    a = tl.load(a_ptr + rows * r + codes, mask=inside, other=0.0).to(ACC)
    if BACKWARD:
        value = tl.load(g_ptr + rows * r + codes, mask=inside, other=0.0).to(ACC)
    elif GELU:
        value = _gelu(a, ACC)
    else:
        value = a
    if DROP:
        value = tl.where(_is_dropped(seed, rows, codes, 1, threshold), 0.0, value)
    value = value * tl.full((1, 1), scale, ACC)
    if BACKWARD and GELU:
        value = value * _gelu_grad(a, ACC)
    tl.store(out_ptr + rows * r + codes, value.to(out_ptr.dtype.element_ty), mask=inside)


@triton.jit(do_not_specialize=["seed", "threshold"])
def _decode_kernel(c_ptr, wd_ptr, io_ptr, g_ptr, n_rows, d, r, seed, threshold, scale: tl.float64,
                   GELU: tl.constexpr, DROP: tl.constexpr, BACKWARD: tl.constexpr, ACC: tl.constexpr,
                   BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_R: tl.constexpr):  # fmt: skip
    """One tile of ``z = c W_d^T`` (``r`` deep), then in the same pass over the ``N x d`` tile:

    forward: ``out += scale * drop3(act(z))`` (``io`` is the base product's output, changed in place);
    backward: ``io = scale * act'(z) * drop3(grad_out)`` (``g`` is the output gradient), the gradient of ``z``.
    """
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)[:, None]
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)[None, :]
    codes_row = tl.arange(0, BLOCK_R)[None, :]
    codes_col = tl.arange(0, BLOCK_R)[:, None]
    c = tl.load(c_ptr + rows * r + codes_row, mask=(rows < n_rows) & (codes_row < r), other=0.0)
    wd_t = tl.load(wd_ptr + cols.to(tl.int64) * r + codes_col, mask=(cols < d) & (codes_col < r), other=0.0)
    z = tl.dot(c, wd_t, tl.zeros((BLOCK_N, BLOCK_D), ACC), input_precision="ieee", out_dtype=ACC)
    inside = (rows < n_rows) & (cols < d)
    at = rows.to(tl.int64) * d + cols
    if BACKWARD:
        value = tl.load(g_ptr + at, mask=inside, other=0.0).to(ACC)
        if GELU:
            value = value * _gelu_grad(z, ACC)
    elif GELU:
        value = _gelu(z, ACC)
    else:
        value = z
    if DROP:
        value = tl.where(_is_dropped(seed, rows, cols, 2, threshold), 0.0, value)
    value = value * tl.full((1, 1), scale, ACC)
    if not BACKWARD:
        value += tl.load(io_ptr + at, mask=inside, other=0.0).to(ACC)
    tl.store(io_ptr + at, value.to(io_ptr.dtype.element_ty), mask=inside)


@triton.jit(do_not_specialize=["seed", "threshold"])
def _input_grad_kernel(ga_ptr, we_ptr, gx_ptr, n_rows, k, r, seed, threshold, DROP: tl.constexpr,
                       ACC: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                       BLOCK_R: tl.constexpr):  # fmt: skip
    """``grad_x += drop1(g_a W_e)`` for one ``N x k`` tile, ``grad_x`` holding the base product's gradient."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)[:, None]
    cols = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)[None, :]
    codes_row = tl.arange(0, BLOCK_R)[None, :]
    codes_col = tl.arange(0, BLOCK_R)[:, None]
    ga = tl.load(ga_ptr + rows * r + codes_row, mask=(rows < n_rows) & (codes_row < r), other=0.0)
    we = tl.load(we_ptr + codes_col * k + cols, mask=(codes_col < r) & (cols < k), other=0.0)
    value = tl.dot(ga, we, tl.zeros((BLOCK_N, BLOCK_K), ACC), input_precision="ieee", out_dtype=ACC)
    if DROP:
        value = tl.where(_is_dropped(seed, rows, cols, 0, threshold), 0.0, value)
    inside = (rows < n_rows) & (cols < k)
    at = rows.to(tl.int64) * k + cols
    gx = tl.load(gx_ptr + at, mask=inside, other=0.0).to(ACC)
    tl.store(gx_ptr + at, (gx + value).to(gx_ptr.dtype.element_ty), mask=inside)


@triton.jit(do_not_specialize=["seed", "threshold"])
def _encoder_grad_kernel(ga_ptr, x_ptr, out_ptr, n_rows, k, r, stride_x, seed, threshold, DROP: tl.constexpr,
                         ACC: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                         BLOCK_R: tl.constexpr):  # fmt: skip
    """``grad_W_e = g_a^T drop1(x)`` for one block of ``k`` columns, over all rows: ``x`` read once."""
    cols = tl.program_id(0) * BLOCK_K + tl.arange(0, BLOCK_K)[None, :]
    codes_col = tl.arange(0, BLOCK_R)[:, None]
    acc = tl.zeros((BLOCK_R, BLOCK_K), ACC)
    for start in range(0, n_rows, BLOCK_N):
        rows_row = start + tl.arange(0, BLOCK_N)[None, :]
        rows = start + tl.arange(0, BLOCK_N)[:, None]
        ga_t = tl.load(ga_ptr + rows_row * r + codes_col, mask=(rows_row < n_rows) & (codes_col < r), other=0.0)
        x = tl.load(x_ptr + rows.to(tl.int64) * stride_x + cols, mask=(rows < n_rows) & (cols < k), other=0.0)
        x = x.to(ga_ptr.dtype.element_ty)
        if DROP:
            x = tl.where(_is_dropped(seed, rows, cols, 0, threshold), 0.0, x)
        acc = tl.dot(ga_t, x, acc, input_precision="ieee", out_dtype=ACC)
    tl.store(out_ptr + codes_col * k + cols, acc.to(out_ptr.dtype.element_ty), mask=(codes_col < r) & (cols < k))


def _rows(x: Tensor) -> Tensor:
    """``x`` as ``(N, width)`` rows with a unit column stride (a copy only when it has none)."""
    x = x.reshape(-1, x.shape[-1])
    return x if x.stride(-1) == 1 else x.contiguous()


def dropped(dropout: Dropout, n_rows: int, width: int, site: int, device: torch.device | str) -> Tensor:
    """The boolean ``(n_rows, width)`` mask (True where dropped) that the kernels apply at ``site``.

    Sites: 0 the input (``k`` wide), 1 the encoder's activation (``r`` wide), 2 the decoder's (``d`` wide).
    """
    out = torch.empty(n_rows, width, dtype=torch.int8, device=device)
    grid = (triton.cdiv(n_rows, _BLOCK_ROWS), triton.cdiv(width, _BLOCK_COLS))
    _mask_kernel[grid](out, n_rows, width, dropout.seed, dropout.threshold, SITE=site, BLOCK_N=_BLOCK_ROWS,
                       BLOCK_C=_BLOCK_COLS)  # fmt: skip
    return out.bool()


def encode(x: Tensor, encoder: Tensor, dropout: Dropout | None) -> Tensor:
    """``drop1(x) W_e^T``, shape ``(N, r)`` in the encoder's dtype, from ``x`` of shape ``(N, k)``."""
    x = _rows(x)
    n_rows, k = x.shape
    r = encoder.shape[0]
    a = torch.empty(n_rows, r, dtype=encoder.dtype, device=x.device)
    seed, threshold, scale, drop = _dropout_args(dropout)
    _encode_kernel[(triton.cdiv(n_rows, _BLOCK_ROWS),)](
        x, encoder.contiguous(), a, n_rows, k, r, x.stride(0), seed, threshold, scale, DROP=drop,
        ACC=_acc(encoder.dtype), BLOCK_N=_BLOCK_ROWS, BLOCK_K=_BLOCK_COLS, BLOCK_R=_pow2(r),
    )  # fmt: skip
    return a


def code(a: Tensor, gelu: bool, dropout: Dropout | None) -> Tensor:
    """``drop2(act(a))``, the ``(N, r)`` code that ``M`` multiplies."""
    return _code(a, None, gelu, dropout, 1.0)


def code_backward(a: Tensor, grad: Tensor, gelu: bool, dropout: Dropout | None, scale: float) -> Tensor:
    """``act'(a) * drop2(grad) * scale``: the gradient of the encoder's pre-activation ``a`` times ``scale``."""
    return _code(a, grad, gelu, dropout, scale)


def _code(a: Tensor, grad: Tensor | None, gelu: bool, dropout: Dropout | None, scale: float) -> Tensor:
    n_rows, r = a.shape
    seed, threshold, keep_scale, drop = _dropout_args(dropout)
    out = torch.empty_like(a, memory_format=torch.contiguous_format)
    backward = grad is not None
    _code_kernel[(triton.cdiv(n_rows, _BLOCK_ROWS),)](
        a.contiguous(), grad.contiguous() if backward else a, out, n_rows, r, seed, threshold, scale * keep_scale,
        GELU=gelu, DROP=drop, BACKWARD=backward, ACC=_acc(a.dtype), BLOCK_N=_BLOCK_ROWS, BLOCK_R=_pow2(r),
    )  # fmt: skip
    return out


def decode_add_(out: Tensor, c: Tensor, decoder: Tensor, gelu: bool, dropout: Dropout | None, scale: float) -> Tensor:
    """``out += scale * drop3(act(c W_d^T))`` in one pass over ``out`` (contiguous ``(N, d)``); returns ``out``.

    The sum is formed in the adapter's precision (float32 at least) and rounded once into ``out``'s dtype.
    """
    if not out.is_contiguous():
        raise ValueError("decode_add_ adds into a contiguous output")
    _decode(out, None, c, decoder, gelu, dropout, scale)
    return out


def decode_backward(
    grad_out: Tensor, c: Tensor, decoder: Tensor, gelu: bool, dropout: Dropout | None, scale: float
) -> Tensor:
    """``scale * act'(c W_d^T) * drop3(grad_out)``, the gradient of ``z = c W_d^T``: ``(N, d)``, the decoder's dtype."""
    grad = torch.empty(grad_out.shape, dtype=decoder.dtype, device=grad_out.device)
    _decode(grad, grad_out.contiguous(), c, decoder, gelu, dropout, scale)
    return grad


def _decode(io: Tensor, grad_out: Tensor | None, c: Tensor, decoder: Tensor, gelu, dropout, scale: float) -> None:
    n_rows, d = io.shape
    r = decoder.shape[1]
    seed, threshold, keep_scale, drop = _dropout_args(dropout)
    backward = grad_out is not None
    grid = (triton.cdiv(n_rows, _BLOCK_ROWS), triton.cdiv(d, _BLOCK_COLS))
    _decode_kernel[grid](
        c.contiguous(), decoder.contiguous(), io, grad_out if backward else io, n_rows, d, r, seed, threshold,
        scale * keep_scale, GELU=gelu, DROP=drop, BACKWARD=backward, ACC=_acc(decoder.dtype), BLOCK_N=_BLOCK_ROWS,
        BLOCK_D=_BLOCK_COLS, BLOCK_R=_pow2(r),
    )  # fmt: skip


def input_grad_add_(grad_x: Tensor, grad_a: Tensor, encoder: Tensor, dropout: Dropout | None) -> Tensor:
    """``grad_x += drop1(grad_a W_e)`` in one pass over ``grad_x`` (contiguous ``(N, k)``); returns ``grad_x``."""
    if not grad_x.is_contiguous():
        raise ValueError("input_grad_add_ adds into a contiguous gradient")
    n_rows, k = grad_x.shape
    r = encoder.shape[0]
    seed, threshold, _, drop = _dropout_args(dropout)
    grid = (triton.cdiv(n_rows, _BLOCK_ROWS), triton.cdiv(k, _BLOCK_COLS))
    _input_grad_kernel[grid](
        grad_a.contiguous(), encoder.contiguous(), grad_x, n_rows, k, r, seed, threshold, DROP=drop,
        ACC=_acc(encoder.dtype), BLOCK_N=_BLOCK_ROWS, BLOCK_K=_BLOCK_COLS, BLOCK_R=_pow2(r),
    )  # fmt: skip
    return grad_x


def encoder_grad(grad_a: Tensor, x: Tensor, dropout: Dropout | None) -> Tensor:
    """``grad_a^T drop1(x)``, the encoder's ``(r, k)`` gradient (``grad_a`` already holds the keep scale)."""
    x = _rows(x)
    n_rows, k = x.shape
    r = grad_a.shape[1]
    out = torch.empty(r, k, dtype=grad_a.dtype, device=x.device)
    seed, threshold, _, drop = _dropout_args(dropout)
    _encoder_grad_kernel[(triton.cdiv(k, _BLOCK_COLS),)](
        grad_a.contiguous(), x, out, n_rows, k, r, x.stride(0), seed, threshold, DROP=drop, ACC=_acc(grad_a.dtype),
        BLOCK_N=_BLOCK_ROWS, BLOCK_K=_BLOCK_COLS, BLOCK_R=_pow2(r),
    )  # fmt: skip
    return out
