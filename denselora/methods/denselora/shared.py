"""The encoder/decoder pairs shared by all adapted layers of one target name, owned once by the model."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["EncoderDecoder", "SharedEncoderDecoders"]


class EncoderDecoder(nn.Module):
    """The shared ``W_e`` (``r x k``) and ``W_d`` (``d x r``) of one sharing group.

    ``W_e`` starts as ``kaiming_uniform(a=sqrt(5))`` and ``W_d`` as zeros, so every adapter of the group
    outputs exactly zero before the first update.

    Args:
        in_features: ``k``, the input width of the group's layers.
        out_features: ``d``, the output width of the group's layers.
        r: the rank.
        device: where to allocate (``"meta"`` allocates nothing).
        dtype: parameter dtype.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        r: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.r = r
        self.encoder = nn.Parameter(torch.empty(r, in_features, device=device, dtype=dtype))
        self.decoder = nn.Parameter(torch.empty(out_features, r, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.encoder, a=math.sqrt(5))
        nn.init.zeros_(self.decoder)

    def adapter_params(self) -> list[str]:
        return ["encoder", "decoder"]

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}"


class SharedEncoderDecoders(nn.ModuleDict):
    """All encoder/decoder pairs of a model, keyed by sharing group (``"q_proj"``, ``"down_proj"``, ...).

    ``apply_denselora`` registers this container once, at the root of the adapted model, and every adapted
    layer keeps an unregistered reference to its group's pair. So ``parameters()`` and ``state_dict()`` list
    each shared tensor exactly once, safetensors sees no aliased storage, and a sharding strategy can treat
    the whole container as one unit, apart from the layers that use it.

    Attributes:
        config: the ``DenseLoRAConfig`` the adapters were built from.
    """

    def __init__(self, config, groups: dict[str, EncoderDecoder]) -> None:
        super().__init__(groups)
        self.config = config
