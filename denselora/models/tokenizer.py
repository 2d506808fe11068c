"""Tokenizer loading: Hugging Face names, local directories, GGUF files, and a built-in offline tokenizer.

``load_tokenizer("denselora/tiny")`` builds a small byte-level BPE tokenizer in a few tens of milliseconds,
with no download, trained on text this project writes itself (the prompt templates, the label vocabularies
and the synthetic data generator's phrasing), which the package registers at import with
:func:`register_tiny_tokenizer_corpus`: the text belongs to the folders above this one. Tests and the
quickstart use it with tiny random LLaMA models. Because it is byte-level, any text (including the real
LLM-Adapters sets) encodes without unknown tokens.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from denselora.errors import ConfigError, DataError
from denselora.models.gguf import converted_gguf, is_gguf_spec

__all__ = [
    "TINY_TOKENIZER",
    "build_tiny_tokenizer",
    "load_tokenizer",
    "register_tiny_tokenizer_corpus",
    "set_pad_token",
]

TINY_TOKENIZER = "denselora/tiny"

# LLaMA-1/2 order: <unk> = 0 (the id LLM-Adapters pads with), <s> = 1, </s> = 2; then a real pad token.
_SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")
_TINY_VOCAB_SIZE = 1024
_PADDING_SIDES = ("right", "left")
# What the tiny tokenizer is trained on: set by register_tiny_tokenizer_corpus.
_make_tiny_corpus: Callable[[], list[str]] | None = None


def register_tiny_tokenizer_corpus(make_corpus: Callable[[], list[str]]) -> None:
    """Set the text the built-in ``denselora/tiny`` tokenizer is trained on.

    Its tokens are decided by this text (and its order), so registering another corpus changes every token id
    the tiny tokenizer gives; the package registers its own once, at import.

    Args:
        make_corpus: returns the training texts; called once, when the tokenizer is first built.
    """
    global _make_tiny_corpus
    _make_tiny_corpus = make_corpus
    _tiny_tokenizer_json.cache_clear()


def _tiny_corpus() -> list[str]:
    if _make_tiny_corpus is None:
        raise ConfigError(
            f"no text is registered for the built-in tokenizer {TINY_TOKENIZER!r}: import denselora (which "
            "registers it) or call denselora.models.register_tiny_tokenizer_corpus"
        )
    return _make_tiny_corpus()


@functools.lru_cache(maxsize=1)
def _tiny_tokenizer_json() -> str:
    # Imported here: the `tokenizers` trainer is only needed to build the built-in tokenizer.
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    # Digits one by one (numbers stay compositional for the arithmetic sets), then byte-level BPE.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_TINY_VOCAB_SIZE,
        special_tokens=list(_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_tiny_corpus(), trainer=trainer)
    # Like LLaMA: every encoded text starts with <s>; </s> is appended by the data pipeline, not here.
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    return tokenizer.to_str()


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Build the built-in ``denselora/tiny`` tokenizer (offline, deterministic, about 1k tokens).

    Returns:
        A fast tokenizer with ``<unk>`` = 0, ``<s>`` = 1 (prepended to every text), ``</s>`` = 2 and
        ``<pad>`` = 3, right padding, and ``model_max_length`` 2048.
    """
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(_tiny_tokenizer_json())
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        padding_side="right",
        model_max_length=2048,
    )


def set_pad_token(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give a tokenizer without a pad token one, as LLM-Adapters does for LLaMA.

    The unknown token when there is one (LLaMA-1/2: ``<unk>``, id 0), else id 0 (LLaMA-3 has neither, and the
    authors' scripts set ``pad_token_id = 0``). Padding is always masked by the attention mask and the
    labels' -100, so the choice only has to differ from EOS, where generation would otherwise stop early.
    """
    if tokenizer.pad_token_id is None:
        if tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            tokenizer.pad_token = tokenizer.convert_ids_to_tokens(0)
    return tokenizer


def load_tokenizer(spec: str, padding_side: str = "right") -> PreTrainedTokenizerBase:
    """Load a tokenizer from a Hugging Face name, a local directory, or the built-in ``"denselora/tiny"``.

    Args:
        spec: ``"denselora/tiny"``, a local directory holding tokenizer files, a ``.gguf`` file (or
            ``pkg:<package>/<file>.gguf``, read from the same cached conversion as the model, see
            :mod:`denselora.models.gguf`), or a Hugging Face model name (needs network access or a populated
            local Hugging Face cache).
        padding_side: ``"right"`` (training batches) or ``"left"`` (generation). The data pipeline pads
            explicitly on the correct side anyway; this only sets the tokenizer's own default.

    Returns:
        The tokenizer, with a pad token set (see :func:`set_pad_token`).

    Raises:
        DataError: the tokenizer cannot be loaded; the message says what was tried.
    """
    if padding_side not in _PADDING_SIDES:
        raise DataError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
    if spec == TINY_TOKENIZER:
        tokenizer = build_tiny_tokenizer()
    elif is_gguf_spec(spec):
        try:
            tokenizer = AutoTokenizer.from_pretrained(converted_gguf(spec))
        except ConfigError as exc:
            raise DataError(f"Could not load the tokenizer {spec!r}: {exc}") from None
    elif spec.startswith((".", "/", "~")) and not Path(spec).expanduser().exists():
        raise DataError(
            f"tokenizer {spec!r}: no such directory (a run reads with its base's own tokenizer unless "
            "data.init_args.tokenizer names another). Give a model or tokenizer directory, a .gguf file, a Hugging "
            f"Face name, or {TINY_TOKENIZER!r} for the built-in offline tokenizer."
        )
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec)
        except (OSError, ValueError) as exc:
            where = "local directory" if Path(spec).expanduser().exists() else "Hugging Face name"
            raise DataError(
                f"Could not load the tokenizer {spec!r} (tried it as a {where}): {exc}. Give a local "
                "directory with tokenizer files, a Hugging Face model name that is downloadable or in the "
                f"local cache, or {TINY_TOKENIZER!r} for the built-in offline tokenizer."
            ) from exc
    set_pad_token(tokenizer)
    tokenizer.padding_side = padding_side
    return tokenizer
