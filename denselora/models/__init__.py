"""Base model sources: where the frozen base comes from, chosen in YAML by ``class_path``.

``model.init_args.base`` takes any :class:`BaseModelSource`; the shorthand ``model.init_args.pretrained``
(a Hugging Face name, a local folder, a ``.gguf`` file or ``denselora/quickstart-base``) picks one by
:func:`base_model_from_spec`, and ``model.init_args.model_config`` means :class:`ConfigModel`.
"""

from denselora.models.from_config import ConfigModel
from denselora.models.gguf import (
    SMOLLM2_135M_INSTRUCT,
    GGUFModel,
    converted_gguf,
    is_gguf_spec,
    resolve_model_file,
)
from denselora.models.hugging_face import HuggingFaceModel
from denselora.models.quickstart import QuickstartBase
from denselora.models.source import BaseModelSource

__all__ = [
    "SMOLLM2_135M_INSTRUCT",
    "BaseModelSource",
    "ConfigModel",
    "GGUFModel",
    "HuggingFaceModel",
    "QuickstartBase",
    "base_model_from_spec",
    "converted_gguf",
    "is_gguf_spec",
    "resolve_model_file",
]


def base_model_from_spec(pretrained: str) -> BaseModelSource:
    """The source a ``model.pretrained`` string names: the quickstart base, a GGUF file, or Hugging Face."""
    from denselora.quickstart import QUICKSTART_BASE

    if pretrained == QUICKSTART_BASE:
        return QuickstartBase()
    if is_gguf_spec(pretrained):
        return GGUFModel(pretrained)
    return HuggingFaceModel(pretrained)
