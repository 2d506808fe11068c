"""Base models and their tokenizers: where the frozen base comes from, chosen in YAML by ``class_path``.

``model.init_args.base`` takes any :class:`BaseModelSource`; the shorthand ``model.init_args.pretrained``
(a Hugging Face name, a local folder, a ``.gguf`` file or ``denselora/quickstart-base``, whose source is
:class:`denselora.quickstart.QuickstartBase`) picks one by
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
from denselora.models.source import BaseModelSource
from denselora.models.tokenizer import TINY_TOKENIZER, build_tiny_tokenizer, load_tokenizer

__all__ = [
    "SMOLLM2_135M_INSTRUCT",
    "TINY_TOKENIZER",
    "BaseModelSource",
    "ConfigModel",
    "GGUFModel",
    "HuggingFaceModel",
    "base_model_from_spec",
    "build_tiny_tokenizer",
    "converted_gguf",
    "is_gguf_spec",
    "load_tokenizer",
    "resolve_model_file",
]


def base_model_from_spec(pretrained: str) -> BaseModelSource:
    """The source a ``model.pretrained`` string names: the quickstart base, a GGUF file, or Hugging Face."""
    from denselora.quickstart.base_model import QUICKSTART_BASE, QuickstartBase

    if pretrained == QUICKSTART_BASE:
        return QuickstartBase()
    if is_gguf_spec(pretrained):
        return GGUFModel(pretrained)
    return HuggingFaceModel(pretrained)
