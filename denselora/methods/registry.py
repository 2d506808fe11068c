"""The adapter methods the project knows by name: one registration call per method.

A method is chosen in YAML by its ``class_path``, so any :class:`~denselora.methods.AdapterMethod` trains without
registering. Registering it lets what reads only a run's files (``figure``, the dashboards, the
``find_tracked_matrices`` of a bare model) know it by its short name: its ``display_name`` and its watched matrices.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from denselora.analysis.tracked import TrackedMatrix
from denselora.methods.base import AdapterMethod

__all__ = ["display_name", "find_tracked_matrices", "register_method", "registered_methods"]

_METHODS: dict[str, type[AdapterMethod]] = {}


def register_method(cls: type[AdapterMethod]) -> type[AdapterMethod]:
    """Register an adapter method under its ``method`` name (use as a class decorator).

    Raises:
        ValueError: another class is registered under that name.
    """
    if not (isinstance(cls, type) and issubclass(cls, AdapterMethod)):
        raise TypeError(f"register_method takes an AdapterMethod subclass, got {cls!r}")
    known = _METHODS.get(cls.method)
    if known is not None and known is not cls:
        raise ValueError(f"{cls.__qualname__}: the method name {cls.method!r} is {known.__qualname__}'s already")
    _METHODS[cls.method] = cls
    return cls


def registered_methods() -> dict[str, type[AdapterMethod]]:
    """The registered methods by short name, in registration order."""
    return dict(_METHODS)


def display_name(method: str) -> str:
    """How figures write the method called ``method`` (its own short name when it is not registered)."""
    cls = _METHODS.get(method)
    return cls.display_name if cls is not None else method


def find_tracked_matrices(
    model: nn.Module, layers: Sequence[int] | None = (0,), targets: Sequence[str] | None = None, seed: int = 0
) -> list[TrackedMatrix]:
    """The watched matrices of a model adapted by any registered method, when its method object is not at hand
    (see :meth:`AdapterMethod.tracked_matrices`): the first registered method that finds some names them.

    The methods are asked through instances made without arguments; a registered method that needs arguments
    is skipped.
    """
    seen = set()
    for cls in _METHODS.values():
        if cls.tracked_matrices in seen:
            continue
        seen.add(cls.tracked_matrices)
        try:
            method = cls()
        except TypeError:
            continue
        found = method.tracked_matrices(model, layers, targets, seed)
        if found:
            return found
    return []
