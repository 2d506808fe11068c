"""Choosing the frozen base from the ways a config may name it, and the tokenizer that goes with it."""

from __future__ import annotations

from typing import Any

from denselora.errors import ConfigError
from denselora.models import base_model_from_spec
from denselora.models.from_config import ConfigModel
from denselora.models.source import BaseModelSource
from denselora.models.tokenizer import TINY_TOKENIZER

__all__ = ["choose_base", "choose_tokenizer"]


def choose_base(
    base: BaseModelSource | None, pretrained: str | None, model_config: dict[str, Any] | None, required: bool = True
) -> BaseModelSource | None:
    """The base source a module's ``base``, ``pretrained`` or ``model_config`` names (at most one of them).

    Args:
        base: a source given as such.
        pretrained: shorthand: a Hugging Face name, a local folder, a ``.gguf`` file or a registered spec (see
            :func:`denselora.models.base_model_from_spec`).
        model_config: shorthand: a config dict (``model_type`` and the config's fields) for a model built offline.
        required: whether one of them must be given (``False`` for a module that builds its own base).

    Raises:
        ConfigError: more than one is given, none is given where one is required, or ``model_config`` has no
            ``model_type``.
    """
    given = [name for name, value in (("base", base), ("pretrained", pretrained), ("model_config", model_config))
             if value is not None]  # fmt: skip
    if len(given) > 1 or (not given and required):
        raise ConfigError(
            "give exactly one of model.base (a denselora.models source), model.pretrained (a Hugging Face "
            "name, a local model folder or a .gguf file) and model.model_config (a config dict for a model "
            f"built offline); got {', '.join(f'model.{name}' for name in given) or 'none'}"
        )
    if model_config is not None:
        if "model_type" not in model_config:
            raise ConfigError("model.model_config needs a 'model_type' (e.g. 'llama') beside the config's fields")
        return ConfigModel(model_config)
    if pretrained is not None:
        return base_model_from_spec(pretrained)
    return base


def choose_tokenizer(tokenizer: str | None, base: BaseModelSource | None) -> str:
    """The tokenizer spec of a run: ``tokenizer`` when given, else the base's own
    (:meth:`~denselora.models.BaseModelSource.tokenizer_spec`), else the built-in ``denselora/tiny``."""
    if tokenizer is not None:
        return tokenizer
    own = None if base is None else base.tokenizer_spec()
    return own if own is not None else TINY_TOKENIZER
