"""The DenseLoRA configuration: what to adapt, at which rank, and the paper's ablation switches."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from denselora.dtypes import DTYPES
from denselora.errors import ConfigError
from denselora.methods.denselora.options import Activation, ActivationName, DropoutSites, DropoutSitesName
from denselora.methods.targets import LLAMA_TARGETS, MISSING_TARGETS, matches

__all__ = ["DenseLoRAConfig"]

SHARING = ("name", "layer")


@dataclass
class DenseLoRAConfig:
    """How DenseLoRA adapts a model: ``y = W0 h + b + s * act(W_d M act(W_e dropout(h))))``, ``s = alpha / r``.

    The defaults are the authors' commonsense recipe (r=16, alpha=32, dropout 0.05 on q, k, v, up, down).

    Args:
        r: rank of the compressed space; ``W_e`` is ``r x k``, ``M`` is ``r x r``, ``W_d`` is ``d x r``.
        alpha: scaling numerator; the adapter output is multiplied by ``alpha / r``.
        dropout: dropout probability, applied where ``dropout_sites`` says (training only).
        target_modules: which ``nn.Linear`` layers to adapt. A list of module-name suffixes matched on
            whole dotted components (``"q_proj"`` matches ``model.layers.0.self_attn.q_proj``, not
            ``xq_proj``), or one regular expression matched against the full dotted module name.
        activation: ``"gelu"`` (exact GELU, the paper) or ``"identity"`` (the "Only Matrix" ablation,
            whose update ``s * W_d M W_e`` is linear and can be merged into ``W0``).
        dropout_sites: ``"all"`` applies dropout where the authors' release does (on the input, after the
            encoder activation and after the decoder activation); ``"input"`` only on the input, as LoRA.
        train_encoder_decoder: ``False`` freezes the shared encoders and decoders so that only the ``M``
            matrices train (the paper's "Freeze" ablation). A decoder frozen at zero would train nothing, so
            then the decoders are drawn like the encoders and each ``M`` starts at zero (output still exactly 0).
        sharing: ``"name"`` shares one encoder/decoder among all layers with the same module name, as the
            paper (all ``q_proj`` layers share one pair; a name whose layers differ in shape gets one pair
            per shape). ``"layer"`` gives every adapted layer its own pair, i.e. LoRA with a dense ``M``.
        dtype: adapter parameter dtype (``"float32"``, ``"bfloat16"``, ``"float16"``, ``"float64"``);
            ``None`` follows each base layer's weight dtype.
        fused: compute each adapted layer (base product and update) as one autograd function that keeps only
            ``r``-wide intermediates for backward and regenerates dropout masks from a seed. Same result up to
            floating-point rounding and dropout draws; ``False`` uses plain autograd ops (the reference).
        missing_targets: ``"error"`` (default) refuses a ``target_modules`` name that selects no linear layer
            of the model, naming it and the layers the model has (Phi-3's fused ``qkv_proj`` and
            ``gate_up_proj`` match none of ``q_proj, k_proj, v_proj, up_proj``); ``"ignore"`` adapts the names
            that match and skips the others. A config that selects no layer at all is refused either way.
    """

    r: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: list[str] | str = field(default_factory=lambda: list(LLAMA_TARGETS))
    activation: ActivationName = "gelu"
    dropout_sites: DropoutSitesName = "all"
    train_encoder_decoder: bool = True
    sharing: Literal["name", "layer"] = "name"
    dtype: str | None = None
    fused: bool = True
    missing_targets: Literal["error", "ignore"] = "error"

    def __post_init__(self) -> None:
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r <= 0:
            raise ConfigError(f"DenseLoRAConfig.r must be a positive integer, got {self.r!r}")
        if (
            isinstance(self.alpha, bool)
            or not isinstance(self.alpha, (int, float))
            or not (math.isfinite(self.alpha) and self.alpha > 0)
        ):
            raise ConfigError(f"DenseLoRAConfig.alpha must be a positive number, got {self.alpha!r}")
        if not isinstance(self.dropout, (int, float)) or not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"DenseLoRAConfig.dropout must be in [0, 1), got {self.dropout!r}")
        self.target_modules = _normalise_targets(self.target_modules)
        # Kept as plain strings (an enum member passed in included): to_dict() stays plain JSON, and a checkpoint
        # that records the config loads with torch.load(weights_only=True).
        self.activation = _parse_choice("activation", self.activation, Activation)
        self.dropout_sites = _parse_choice("dropout_sites", self.dropout_sites, DropoutSites)
        _check_choice("sharing", self.sharing, SHARING)
        if not isinstance(self.train_encoder_decoder, bool):
            raise ConfigError(
                f"DenseLoRAConfig.train_encoder_decoder must be true or false, got {self.train_encoder_decoder!r}"
            )
        if not isinstance(self.fused, bool):
            raise ConfigError(f"DenseLoRAConfig.fused must be true or false, got {self.fused!r}")
        _check_choice("missing_targets", self.missing_targets, MISSING_TARGETS)
        if self.dtype is not None:
            self.dtype = str(self.dtype).removeprefix("torch.")
            _check_choice("dtype", self.dtype, tuple(DTYPES))

    @property
    def scale(self) -> float:
        """The factor ``s = alpha / r`` applied to the adapter output."""
        return self.alpha / self.r

    @property
    def torch_dtype(self) -> torch.dtype | None:
        """``dtype`` as a ``torch.dtype`` (``None`` follows the base weights)."""
        return None if self.dtype is None else DTYPES[self.dtype]

    def matches(self, module_name: str) -> bool:
        """Whether the dotted ``module_name`` is selected by ``target_modules``."""
        return matches(self.target_modules, module_name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy of the fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DenseLoRAConfig:
        """Build a config from ``to_dict()`` output; unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown DenseLoRAConfig field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**values)


def _normalise_targets(targets: list[str] | tuple[str, ...] | str) -> list[str] | str:
    if isinstance(targets, str):
        if not targets:
            raise ConfigError("DenseLoRAConfig.target_modules is an empty string; give names or a regex")
        try:
            re.compile(targets)
        except re.error as err:
            raise ConfigError(f"DenseLoRAConfig.target_modules {targets!r} is not a valid regex: {err}") from None
        return targets
    if not isinstance(targets, (list, tuple)) or not targets:
        raise ConfigError(
            f"DenseLoRAConfig.target_modules must be a non-empty list of names or a regex, got {targets!r}"
        )
    names = list(targets)
    for name in names:
        if not isinstance(name, str) or not name or name.startswith(".") or name.endswith("."):
            raise ConfigError(f"DenseLoRAConfig.target_modules has an invalid module name {name!r}")
    return names


def _parse_choice(field_name: str, value: Any, choices: type[Activation | DropoutSites]) -> str:
    _check_choice(field_name, value, choices.values())
    return choices(value).value


def _check_choice(field_name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"DenseLoRAConfig.{field_name} must be one of {list(choices)}, got {value!r}")
