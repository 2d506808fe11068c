"""Base models known by a name of their own (``model.pretrained: <name>``), registered by the part of the package
that builds them.

``models/`` resolves the names but does not know who provides them: a folder above it registers its base at
import, so that ``models/`` never imports the folders that import it.
"""

from __future__ import annotations

from collections.abc import Callable

from denselora.models.source import BaseModelSource

__all__ = ["register_base_model", "registered_base_model"]

_BASE_MODELS: dict[str, Callable[[], BaseModelSource]] = {}


def register_base_model(name: str, make_source: Callable[[], BaseModelSource]) -> None:
    """Let ``model.pretrained: <name>`` (and :func:`denselora.models.base_model_from_spec`) select a source.

    Args:
        name: the spec, e.g. ``"denselora/quickstart-base"``; registering it again replaces the source.
        make_source: builds the source (a class with no required arguments will do); called once per lookup.
    """
    _BASE_MODELS[name] = make_source


def registered_base_model(name: str) -> BaseModelSource | None:
    """The source registered under ``name``, or ``None`` when no part of the package registered it."""
    make_source = _BASE_MODELS.get(name)
    return make_source() if make_source is not None else None
