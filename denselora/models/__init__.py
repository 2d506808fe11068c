"""Base models and their tokenizers: where the frozen base comes from, chosen in YAML by ``class_path``.

``model.init_args.base`` takes any :class:`BaseModelSource`; the shorthand ``model.init_args.pretrained``
(a Hugging Face name, a local folder, a ``.gguf`` file or a name registered with :func:`register_base_model`,
such as ``denselora/quickstart-base``) picks one by :func:`base_model_from_spec`, and
``model.init_args.model_config`` means :class:`ConfigModel`.
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
from denselora.models.registry import register_base_model, registered_base_model
from denselora.models.source import BaseModelSource
from denselora.models.tokenizer import (
    TINY_TOKENIZER,
    build_tiny_tokenizer,
    load_tokenizer,
    register_tiny_tokenizer_corpus,
)

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
    "register_base_model",
    "register_tiny_tokenizer_corpus",
    "registered_base_model",
    "resolve_model_file",
]


def base_model_from_spec(pretrained: str) -> BaseModelSource:
    """The source a ``model.pretrained`` string names: a registered name, a GGUF file, or Hugging Face."""
    registered = registered_base_model(pretrained)
    if registered is not None:
        return registered
    if is_gguf_spec(pretrained):
        return GGUFModel(pretrained)
    return HuggingFaceModel(pretrained)
