"""A frozen linear layer with a DenseLoRA update: ``y = W0 h + b + s * act(W_d M act(W_e h))``."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from denselora.methods.denselora.functional import denselora_delta, merged_delta_weight
from denselora.methods.denselora.fused import KERNELS, fused_denselora_linear
from denselora.methods.denselora.options import Activation, DropoutSites, UpdateOptions
from denselora.methods.denselora.shared import EncoderDecoder

__all__ = ["DenseLoRALinear"]


class DenseLoRALinear(nn.Module):
    """A drop-in replacement for an ``nn.Linear`` that adds a DenseLoRA update.

    The layer adopts the base layer's own ``weight`` and ``bias`` parameters (not copies), so base state-dict
    keys are unchanged and nothing is allocated, and holds one trainable dense matrix ``M`` (``r x r``). The
    encoder ``W_e`` and decoder ``W_d`` belong to an :class:`EncoderDecoder` shared with the other layers of
    the same group; the layer keeps a reference to it that is deliberately *not* registered as a submodule,
    so the shared tensors appear once in the model's ``parameters()`` and ``state_dict()``.

    Args:
        base: the linear layer to adapt; its parameters are frozen.
        shared: the encoder/decoder pair of this layer's group.
        group: the name of that group (for reports and saved adapters).
        scale: ``s = alpha / r``.
        activation: :class:`~denselora.methods.denselora.options.Activation` (or ``"gelu"``, ``"identity"``).
        dropout: dropout probability.
        dropout_sites: :class:`~denselora.methods.denselora.options.DropoutSites` (or ``"all"``, ``"input"``; see
            :class:`denselora.DenseLoRAConfig`).
        dtype: dtype of ``M``; ``None`` follows the base weight.
        fused: compute the layer with :func:`~denselora.methods.denselora.fused.fused_denselora_linear` (one autograd
            node, ``r``-wide saved tensors) while the base weight is frozen; otherwise base product plus
            :func:`~denselora.methods.denselora.functional.denselora_delta`.
        kernel: the fused layer's implementation, ``"torch"`` or ``"triton"`` (see
            :data:`~denselora.methods.denselora.fused.KERNELS`); a plain attribute, which may be changed at any time.
    """

    def __init__(
        self,
        base: nn.Linear,
        shared: EncoderDecoder,
        *,
        group: str,
        scale: float,
        activation: Activation | str = Activation.GELU,
        dropout: float = 0.0,
        dropout_sites: DropoutSites | str = DropoutSites.ALL,
        dtype: torch.dtype | None = None,
        fused: bool = True,
        kernel: str = "torch",
    ) -> None:
        super().__init__()
        if (shared.in_features, shared.out_features) != (base.in_features, base.out_features):
            raise ValueError(
                f"encoder/decoder of group {group!r} is for {shared.in_features} -> {shared.out_features}, "
                f"the layer is {base.in_features} -> {base.out_features}"
            )
        self.in_features = base.in_features
        self.out_features = base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.weight.requires_grad_(False)
        if self.bias is not None:
            self.bias.requires_grad_(False)
        self.r = shared.r
        self.group = group
        # Read by both kernels on every call; built once, so a forward interprets no option.
        self.options = UpdateOptions(scale, activation, dropout, dropout_sites)
        self.fused = fused
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; use one of {KERNELS}")
        self.kernel = kernel
        self.M = nn.Parameter(torch.empty(self.r, self.r, device=base.weight.device, dtype=dtype or base.weight.dtype))
        # A plain attribute, not a submodule: the pair is registered once, at the model's root.
        object.__setattr__(self, "encoder_decoder", shared)
        self.adapter_enabled = True
        self.merged = False
        self.reset_parameters()

    @property
    def scale(self) -> float:
        """``s = alpha / r``."""
        return self.options.scale

    @property
    def activation(self) -> Activation:
        """GELU, or identity ("Only Matrix")."""
        return self.options.activation

    @property
    def dropout(self) -> float:
        """The dropout probability while training."""
        return self.options.dropout

    @property
    def dropout_sites(self) -> DropoutSites:
        """Where the dropout applies."""
        return self.options.dropout_sites

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.M, a=math.sqrt(5))

    def adapter_params(self) -> list[str]:
        return ["M"]

    def delta(self, x: Tensor) -> Tensor:
        """The adapter's update for inputs ``x`` (``(..., k)`` -> ``(..., d)``), in the adapter's dtype."""
        shared = self.encoder_decoder
        return denselora_delta(x, shared.encoder, self.M, shared.decoder, self.options, training=self.training)

    def forward(self, x: Tensor) -> Tensor:
        """Base output plus the update. Shapes: ``(..., k)`` -> ``(..., d)``."""
        if self.merged or not self.adapter_enabled:
            return F.linear(x, self.weight, self.bias)
        if self.fused and not self.weight.requires_grad and (self.bias is None or not self.bias.requires_grad):
            shared = self.encoder_decoder
            return fused_denselora_linear(
                x,
                self.weight,
                self.bias,
                shared.encoder,
                self.M,
                shared.decoder,
                self.options,
                training=self.training,
                kernel=self.kernel,
            )
        out = F.linear(x, self.weight, self.bias)
        return out + self.delta(x).to(out.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        """Fold the update into ``weight`` (identity activation only); the forward then skips the adapter."""
        if self.merged:
            return
        # Sum in float64 and round once; unmerge then restores W0 up to that one rounding of the merged weight.
        self.weight.copy_(self.weight.double() + self._delta_weight())
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take the merged update back out of ``weight`` (exact up to one rounding of the merged weight)."""
        if not self.merged:
            return
        self.weight.copy_(self.weight.double() - self._delta_weight())
        self.merged = False

    def check_mergeable(self) -> None:
        """Raise ``ValueError`` unless the update is linear in the input (identity activation)."""
        if self.activation is not Activation.IDENTITY:
            raise ValueError(
                f"cannot merge the DenseLoRA adapter of a layer with activation={self.activation.value!r}: the update "
                "s * gelu(W_d M gelu(W_e h)) is not linear in h, so no weight matrix equals it. Only "
                "activation='identity' (the 'Only Matrix' variant) merges; keep GELU adapters unmerged."
            )

    def _delta_weight(self) -> Tensor:
        self.check_mergeable()
        shared = self.encoder_decoder
        return merged_delta_weight(shared.encoder, self.M, shared.decoder, self.scale).to(self.weight.device)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"r={self.r}, group={self.group!r}, activation={self.activation.value!r}"
        )
