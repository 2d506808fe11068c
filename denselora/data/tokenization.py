"""Turning records into token ids, exactly as LLM-Adapters' ``generate_and_tokenize_prompt``.

The reference is ``tokenize`` and ``generate_and_tokenize_prompt`` in ``finetune.py`` of
https://github.com/AGI-Edgerunners/LLM-Adapters, copied unchanged into the authors' release
(https://github.com/mulin-ahu/DenseLoRA, ``commonsense_reasoning/finetune.py``).

Training example: tokenize prompt + output (the tokenizer adds BOS), truncate to ``cutoff_len``, append EOS
if the last token is not EOS and the sequence is shorter than ``cutoff_len``; labels are the input ids. With
``train_on_inputs=False`` the first ``n`` labels become -100, ``n`` being the length of the prompt tokenized
on its own (also truncated, without EOS) -- the reference's way, boundary effects included.

Each training example also gets ``learned``: how many of its labels the loss uses (positions after the first,
since token ``t + 1`` is predicted from token ``t``, that are not -100). A record whose prompt fills
``cutoff_len`` under ``train_on_inputs=False`` has none; :mod:`denselora.data.truncated_answers` finds them.

A text far longer than ``cutoff_len`` tokens can hold (a 50 MB record) is cut to :func:`text_budget` characters
before it is tokenized, so that tokenizing it takes milliseconds instead of minutes and gigabytes. The kept tokens
are the same: ``cutoff_len`` tokens span at most ``cutoff_len`` times the tokenizer's longest token, and the
budget adds a margin for the word the cut falls in. If the cut text yields fewer than ``cutoff_len`` tokens (a
normalizer that drops characters), the whole text is tokenized instead.

Generation prompt: the prompt with an empty response, tokenized with BOS, no EOS and no truncation.
"""

from __future__ import annotations

from typing import Any

from transformers import PreTrainedTokenizerBase

from denselora.data.prompts import check_template, format_prompt

__all__ = ["IGNORE_INDEX", "PromptTokenizer", "TrainingTokenizer", "text_budget", "tokenize_training_example"]

IGNORE_INDEX = -100  # label value that the cross-entropy loss skips
_CUT_WORD_MARGIN = 4096  # characters kept past the bound, so that the word the cut falls in ends after the kept tokens


def text_budget(tokenizer: PreTrainedTokenizerBase, cutoff_len: int) -> int | None:
    """How many characters of a text are enough to give its first ``cutoff_len`` tokens.

    A token's string in the vocabulary (byte-level or SentencePiece) is at least as long as the text it stands
    for, so ``cutoff_len`` tokens cover at most ``cutoff_len`` times the longest one.

    Returns:
        The number of characters, or ``None`` when the tokenizer truncates from the left (keeps the end).
    """
    if getattr(tokenizer, "truncation_side", "right") != "right":
        return None
    longest = max((len(token) for token in tokenizer.get_vocab()), default=1)
    return cutoff_len * max(longest, 1) + _CUT_WORD_MARGIN


def _encode(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], cutoff_len: int | None, budget: int | None = None
) -> list[list[int]]:
    if cutoff_len is None:
        return tokenizer(texts, padding=False, truncation=False)["input_ids"]
    long = [index for index, text in enumerate(texts) if budget is not None and len(text) > budget]
    cut = [text[:budget] if budget is not None else text for text in texts] if long else texts
    ids = tokenizer(cut, padding=False, truncation=True, max_length=cutoff_len)["input_ids"]
    for index in long:
        if len(ids[index]) < cutoff_len:  # the cut text was too short after all: tokenize the whole of it
            ids[index] = tokenizer(texts[index], padding=False, truncation=True, max_length=cutoff_len)["input_ids"]
    return ids


def _append_eos(ids: list[int], eos_token_id: int, cutoff_len: int) -> list[int]:
    if (not ids or ids[-1] != eos_token_id) and len(ids) < cutoff_len:
        ids.append(eos_token_id)
    return ids


class TrainingTokenizer:
    """Batched ``datasets.map`` function producing ``input_ids``, ``labels`` and ``length`` for training.

    A class (not a closure) so that ``datasets`` can fingerprint it and reuse its cache on the next run.

    Args:
        tokenizer: the tokenizer; must define ``eos_token_id``.
        template: prompt template name (see :mod:`denselora.data.prompts`).
        cutoff_len: maximum sequence length in tokens (256 in the paper).
        train_on_inputs: ``True`` trains on all tokens (the authors' setting); ``False`` masks the prompt.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, template: str, cutoff_len: int, train_on_inputs: bool):
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token; training examples must end with one")
        self.tokenizer = tokenizer
        self.template = check_template(template)
        self.cutoff_len = cutoff_len
        self.train_on_inputs = train_on_inputs
        self.budget = text_budget(tokenizer, cutoff_len)
        # Part of the ``datasets`` cache fingerprint: data tokenized before ``learned`` existed is not reused.
        self.columns = ("input_ids", "labels", "length", "learned")

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        instructions, outputs = batch["instruction"], batch["output"]
        inputs = [value or "" for value in batch.get("input", [""] * len(instructions))]
        full = [
            format_prompt(self.template, instruction, given, output)
            for instruction, given, output in zip(instructions, inputs, outputs, strict=True)
        ]
        eos = self.tokenizer.eos_token_id
        encoded = _encode(self.tokenizer, full, self.cutoff_len, self.budget)
        input_ids = [_append_eos(ids, eos, self.cutoff_len) for ids in encoded]
        labels = [list(ids) for ids in input_ids]
        if not self.train_on_inputs:
            prompts = [
                format_prompt(self.template, instruction, given)
                for instruction, given in zip(instructions, inputs, strict=True)
            ]
            prompt_ids = _encode(self.tokenizer, prompts, self.cutoff_len, self.budget)
            for row, ids in zip(labels, prompt_ids, strict=True):
                masked = min(len(ids), len(row))
                row[:masked] = [IGNORE_INDEX] * masked
        return {
            "input_ids": input_ids,
            "labels": labels,
            "length": [len(ids) for ids in input_ids],
            "learned": [sum(label != IGNORE_INDEX for label in row[1:]) for row in labels],
        }


def tokenize_training_example(
    example: dict[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    template: str,
    cutoff_len: int = 256,
    train_on_inputs: bool = True,
) -> dict[str, list[int]]:
    """Tokenize one record for training (see :class:`TrainingTokenizer`).

    Returns:
        ``{"input_ids": [...], "labels": [...]}``, lists of equal length ``n <= cutoff_len``, ``"length": n``
        and ``"learned"``: the number of labels the loss uses.
    """
    batch = {key: [value] for key, value in example.items()}
    return {
        key: values[0]
        for key, values in TrainingTokenizer(tokenizer, template, cutoff_len, train_on_inputs)(batch).items()
    }


class PromptTokenizer:
    """Batched ``datasets.map`` function producing generation prompts: ``prompt``, ``input_ids``, ``length``.

    Args:
        tokenizer: the tokenizer.
        template: prompt template name; the response part is left empty.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, template: str):
        self.tokenizer = tokenizer
        self.template = check_template(template)

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        instructions = batch["instruction"]
        inputs = [value or "" for value in batch.get("input", [""] * len(instructions))]
        prompts = [
            format_prompt(self.template, instruction, given)
            for instruction, given in zip(instructions, inputs, strict=True)
        ]
        input_ids = _encode(self.tokenizer, prompts, None)
        return {"prompt": prompts, "input_ids": input_ids, "length": [len(ids) for ids in input_ids]}
