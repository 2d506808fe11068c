"""The PEFT baselines (LoRA, DoRA, VeRA) as adapter choices of the trainer, at the paper's settings."""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from torch import Tensor, nn

from denselora.analysis.tracked import TrackedMatrix, watched_layers, window_start
from denselora.errors import ConfigError
from denselora.methods.base import AdapterMethod
from denselora.methods.parameter_counts import count_parameters
from denselora.methods.registry import register_method
from denselora.methods.targets import LLAMA_TARGETS, MISSING_TARGETS, select_names

__all__ = ["DoRA", "LoRA", "PeftMethod", "VeRA"]


class PeftMethod(AdapterMethod):
    """A PEFT method applied with ``peft.get_peft_model``; subclasses build the ``peft`` config.

    ``target_modules`` selects layers as DenseLoRA's does, and PEFT's own matching rule agrees (whole trailing
    dotted components, or one regex over the full name). Before PEFT is called every name must select an
    ``nn.Linear`` or transformers ``Conv1D`` layer, unless ``missing_targets`` is ``"ignore"``: PEFT itself
    skips such a name in silence.
    """

    training_fields = frozenset({"dropout"})

    def __init__(
        self,
        r: int,
        alpha: float,
        dropout: float,
        target_modules: list[str] | str,
        missing_targets: str = "error",
    ) -> None:
        if missing_targets not in MISSING_TARGETS:
            raise ConfigError(
                f"{type(self).__name__}.missing_targets must be one of {list(MISSING_TARGETS)}, got {missing_targets!r}"
            )
        if r <= 0:
            raise ConfigError(f"{type(self).__name__}.r must be a positive integer, got {r}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"{type(self).__name__}.dropout must be in [0, 1), got {dropout}")
        self.r = r
        self.alpha = alpha
        self.dropout = dropout
        self.target_modules = list(target_modules) if not isinstance(target_modules, str) else target_modules
        self.missing_targets = missing_targets

    @property
    def rank(self) -> int:
        return self.r

    def peft_config(self, target_modules: list[str] | str | None = None):
        """The ``peft`` config, for ``target_modules`` (default: the adapter's own)."""
        raise NotImplementedError

    def apply(self, model: nn.Module) -> nn.Module:
        from peft import get_peft_model

        targets = select_names(
            model, self.target_modules, self.missing_targets, method=type(self).__name__, conv1d=True
        )
        with _quiet_peft_deprecation():
            return get_peft_model(model, self.peft_config(targets))

    def adapter_tensors(self, model: nn.Module) -> dict[str, Tensor]:
        # PEFT marks exactly its adapter parameters trainable; VeRA's frozen projections are regenerated
        # from their PRNG key, so the trainable tensors determine the adapter.
        return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}

    def export(self, model: nn.Module, directory: str | os.PathLike, state: dict[str, Tensor] | None = None) -> Path:
        model.save_pretrained(str(directory), state_dict=state)
        return Path(directory)

    def load(self, model: nn.Module, directory: str | os.PathLike) -> nn.Module:
        from peft import PeftModel

        with _quiet_peft_deprecation():
            return PeftModel.from_pretrained(model, str(directory))

    def settings(self) -> dict:
        """The method's hyperparameters, as a checkpoint records them (the scaling is not in the tensors)."""
        return {"r": self.r, "alpha": self.alpha, "dropout": self.dropout, "target_modules": self.target_modules}

    def metadata(self, model: nn.Module) -> dict:
        return {**super().metadata(model), "config": self.settings()}

    def summary(self, model: nn.Module) -> str:
        return f"{self.method} r={self.r}: {count_parameters(model)}"


@contextlib.contextmanager
def _quiet_peft_deprecation() -> Iterator[None]:
    # PEFT reads transformers' deprecated `is_gradient_checkpointing`; the warning names nothing a user did.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


@register_method
class LoRA(PeftMethod):
    """LoRA (Hu et al., 2021). Paper baseline on LLaMA-3-8B: r=32, alpha=64, dropout 0.05, q,k,v,up,down.

    ``missing_targets``: ``"error"`` refuses a target name that selects no layer; ``"ignore"`` skips it.
    """

    method = "lora"
    display_name = "LoRA"

    def __init__(
        self,
        r: int = 32,
        alpha: float = 64.0,
        dropout: float = 0.05,
        target_modules: list[str] | str = LLAMA_TARGETS,
        missing_targets: Literal["error", "ignore"] = "error",
    ) -> None:
        super().__init__(r, alpha, dropout, target_modules, missing_targets)

    def tracked_matrices(
        self,
        model: nn.Module,
        layers: Sequence[int] | None = (0,),
        targets: Sequence[str] | None = None,
        seed: int = 0,
    ) -> list[TrackedMatrix]:
        """An ``r x r`` window of each watched layer's ``A`` and ``B``, as the paper's App. B.3 slices them: all
        ``r`` rows of ``A`` (``r x k``) and ``r`` consecutive columns, all ``r`` columns of ``B`` (``d x r``) and
        ``r`` consecutive rows, the windows placed by ``seed`` and the matrix's name."""
        from peft.tuners.lora import LoraLayer  # peft loads only for the PEFT methods

        tracked = []
        for layer, target, module in watched_layers(model, LoraLayer, layers, targets):
            adapter = module.active_adapters[0]
            a, b = module.lora_A[adapter].weight, module.lora_B[adapter].weight
            r = a.shape[0]
            start_a = window_start(a.shape[1], r, seed, f"layer{layer}.{target}/A")
            start_b = window_start(b.shape[0], r, seed, f"layer{layer}.{target}/B")
            tracked += [
                TrackedMatrix(layer, target, "A", "lora", (0, r), (start_a, start_a + min(r, a.shape[1])), a),
                TrackedMatrix(layer, target, "B", "lora", (start_b, start_b + min(r, b.shape[0])), (0, r), b),
            ]
        return tracked

    def peft_config(self, target_modules: list[str] | str | None = None):
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules if target_modules is None else target_modules,
            task_type="CAUSAL_LM",
        )


@register_method
class DoRA(LoRA):
    """DoRA (Liu et al., 2024): LoRA on the direction plus a trainable magnitude vector; same settings as LoRA."""

    method = "dora"
    display_name = "DoRA"

    def peft_config(self, target_modules: list[str] | str | None = None):
        config = super().peft_config(target_modules)
        config.use_dora = True
        return config


@register_method
class VeRA(PeftMethod):
    """VeRA (Kopiczko et al., 2024): frozen random projections shared by all layers, trainable scaling vectors.

    VeRA's rank is the width of its shared random projections, so it is used far larger than LoRA's;
    ``projection_prng_key`` fixes them. ``missing_targets`` as :class:`LoRA`'s.
    """

    method = "vera"
    display_name = "VeRA"

    def __init__(
        self,
        r: int = 256,
        dropout: float = 0.05,
        target_modules: list[str] | str = LLAMA_TARGETS,
        projection_prng_key: int = 0,
        missing_targets: Literal["error", "ignore"] = "error",
    ) -> None:
        super().__init__(r, 1.0, dropout, target_modules, missing_targets)
        self.projection_prng_key = projection_prng_key

    def settings(self) -> dict:
        # The key draws the frozen projections, which the checkpoint does not hold.
        return {**super().settings(), "projection_prng_key": self.projection_prng_key}

    def peft_config(self, target_modules: list[str] | str | None = None):
        from peft import VeraConfig

        return VeraConfig(
            r=self.r,
            vera_dropout=self.dropout,
            target_modules=self.target_modules if target_modules is None else target_modules,
            projection_prng_key=self.projection_prng_key,
            task_type="CAUSAL_LM",
        )
