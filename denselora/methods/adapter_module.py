"""The protocol through which adapter parameters are found: modules say which of their tensors are adapters.

Selecting adapter parameters by asking the modules, rather than by matching substrings of parameter names,
keeps a base model's own parameters out of the optimizer whatever they happen to be called.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from torch import nn

__all__ = ["AdapterModule", "get_adapter_params", "set_trainable_params"]


@runtime_checkable
class AdapterModule(Protocol):
    """A module that owns adapter tensors."""

    def adapter_params(self) -> list[str]:
        """Names (relative to the module) of the parameters that belong to the adapter."""
        ...


def get_adapter_params(model: nn.Module) -> dict[str, nn.Parameter]:
    """Every adapter parameter of ``model``, keyed by its name in ``model.state_dict()``.

    Each tensor is listed once: shared encoders/decoders are owned by a single module of the tree.
    """
    params: dict[str, nn.Parameter] = {}
    for module_name, module in model.named_modules():
        if isinstance(module, AdapterModule):
            for name in module.adapter_params():
                params[f"{module_name}.{name}" if module_name else name] = getattr(module, name)
    return params


def set_trainable_params(model: nn.Module, trainable: dict[str, nn.Parameter]) -> None:
    """Make exactly the parameters in ``trainable`` require gradients, and freeze everything else."""
    keep = {id(p) for p in trainable.values()}
    for param in model.parameters():
        param.requires_grad_(id(param) in keep)
