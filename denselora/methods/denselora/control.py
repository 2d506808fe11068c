"""Switching adapters off and on, and merging linear adapters into the base weights."""

from __future__ import annotations

from types import TracebackType

from torch import nn

from denselora.methods.denselora.inject import adapted_layers
from denselora.methods.denselora.layer import DenseLoRALinear

__all__ = ["AdapterSwitch", "disable_adapters", "enable_adapters", "merge_adapters", "unmerge_adapters"]


class AdapterSwitch:
    """Turns every adapter of a model off or on at once; as a context manager, restores them on exit.

    ``disable_adapters(model)`` switches immediately; ``with disable_adapters(model): ...`` also switches
    back to what each layer was before when the block ends, even on an exception.
    """

    def __init__(self, model: nn.Module, enabled: bool) -> None:
        self._layers = _require_layers(model)
        merged = [name for name, layer in self._layers.items() if layer.merged]
        if merged and not enabled:
            raise RuntimeError(
                f"{len(merged)} adapter(s) are merged into their base weights (e.g. {merged[0]!r}), so they cannot "
                "be switched off; call denselora.unmerge_adapters(model) first"
            )
        self._previous = {name: layer.adapter_enabled for name, layer in self._layers.items()}
        for layer in self._layers.values():
            layer.adapter_enabled = enabled

    def __enter__(self) -> AdapterSwitch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for name, layer in self._layers.items():
            layer.adapter_enabled = self._previous[name]


def disable_adapters(model: nn.Module) -> AdapterSwitch:
    """Switch every adapter off: the model computes exactly its base output. Usable as a context manager."""
    return AdapterSwitch(model, enabled=False)


def enable_adapters(model: nn.Module) -> AdapterSwitch:
    """Switch every adapter back on. Usable as a context manager."""
    return AdapterSwitch(model, enabled=True)


def merge_adapters(model: nn.Module) -> nn.Module:
    """Fold every adapter into its base weight, ``W0 += s * W_d M W_e``, for zero-cost inference.

    Only adapters with ``activation="identity"`` ("Only Matrix") are linear and can merge; for GELU adapters
    this raises ``ValueError`` before touching any weight. Gradients do not reach a merged adapter: unmerge
    before training again.
    """
    layers = _require_layers(model)
    for layer in layers.values():  # all or nothing
        layer.check_mergeable()
    for layer in layers.values():
        layer.merge()
    return model


def unmerge_adapters(model: nn.Module) -> nn.Module:
    """Take merged adapters back out of the base weights."""
    for layer in _require_layers(model).values():
        layer.unmerge()
    return model


def _require_layers(model: nn.Module) -> dict[str, DenseLoRALinear]:
    layers = adapted_layers(model)
    if not layers:
        raise ValueError("this model has no DenseLoRA adapters; call denselora.apply_denselora(model, config) first")
    return layers
