"""The options of the DenseLoRA update, read from their configuration strings in this one place.

:class:`Activation` and :class:`DropoutSites` are string enums: a member equals its YAML/JSON string
(``Activation.GELU == "gelu"``), so configs, saved adapters and checkpoints keep plain strings. A layer turns its
settings into one frozen :class:`UpdateOptions` when it is built, and passes it to either kernel
(:func:`.functional.denselora_delta`, :func:`.fused.fused_denselora_linear`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

__all__ = ["Activation", "ActivationName", "DropoutSites", "DropoutSitesName", "UpdateOptions"]


class _Choice(str, enum.Enum):
    """A string enum whose ``str()`` and ``format()`` are its value (``enum.StrEnum`` is Python 3.11+)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The configuration strings, in declaration order."""
        return tuple(member.value for member in cls)


class Activation(_Choice):
    """The activation after the encoder and after the decoder (Eq. 4-5 of the paper)."""

    #: Exact (erf) GELU, as the paper and the authors' release use.
    GELU = "gelu"
    #: No activation: the "Only Matrix" ablation (Tab. 4), whose update ``s * W_d M W_e`` is linear and merges.
    IDENTITY = "identity"


class DropoutSites(_Choice):
    """Where the adapter's dropout applies while training."""

    #: On the input, after the encoder's activation and after the decoder's, as the authors' release does.
    ALL = "all"
    #: On the input only, as LoRA.
    INPUT = "input"


#: The strings a YAML config may give for :class:`Activation` and :class:`DropoutSites`. LightningCLI parses
#: ``Literal`` fields from their strings (an ``Enum`` field would take the members' names); a test checks that
#: these agree with the enums.
ActivationName = Literal["gelu", "identity"]
DropoutSitesName = Literal["all", "input"]


@dataclass(frozen=True)
class UpdateOptions:
    """How an adapted layer computes ``s * act(W_d M act(W_e drop(h))))``, apart from its tensors.

    Built once per layer; both kernels read it. Strings are accepted for the two choices and turned into their
    enums here.

    Args:
        scale: ``s = alpha / r``.
        activation: :class:`Activation` (or its string).
        dropout: dropout probability while training, in ``[0, 1)``.
        dropout_sites: :class:`DropoutSites` (or its string).

    Raises:
        ValueError: a choice is not one of its enum's strings.
    """

    scale: float
    activation: Activation = Activation.GELU
    dropout: float = 0.0
    dropout_sites: DropoutSites = DropoutSites.ALL

    def __post_init__(self) -> None:
        object.__setattr__(self, "activation", Activation(self.activation))
        object.__setattr__(self, "dropout_sites", DropoutSites(self.dropout_sites))

    @property
    def gelu(self) -> bool:
        """Whether the activation is GELU (``False``: identity)."""
        return self.activation is Activation.GELU

    @property
    def inner_dropout(self) -> float:
        """The dropout probability after the two activations while training (0 unless at all sites)."""
        return self.dropout if self.dropout_sites is DropoutSites.ALL else 0.0

    @property
    def mask_count(self) -> int:
        """How many of the three dropouts (input, after the encoder, after the decoder) apply, in that order."""
        return 3 if self.dropout_sites is DropoutSites.ALL else 1
