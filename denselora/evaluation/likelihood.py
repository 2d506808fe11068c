"""Scoring options by likelihood: each option's summed log-probability as the continuation of a prompt.

This is how lm-evaluation-harness scores multiple-choice tasks (``output_type: multiple_choice``), and the rules
here are its rules, so that the two agree item by item:

- a context's trailing whitespace moves to the front of each continuation, the context and the whole text are
  tokenized separately, and the continuation's tokens are the whole text's past the context's length
  (``TemplateLM._encode_pair`` in ``lm_eval/api/model.py``);
- ``acc`` picks the option with the highest summed log-probability, ``acc_norm`` the highest sum per character
  of the option's text (``ConfigurableTask.process_results`` in ``lm_eval/api/task.py``; for ASCII options that
  is per byte).

Unlike the harness, the options of an item share their prompt's forward pass: the prompts of a batch run once,
with the KV cache kept, and every option continues from its prompt's cache; and the tokens that every prompt of
the batch starts with (the template's preamble) run once for all of them. One batch of items costs a forward
over one preamble, one over the rest of the prompts, and one over all their options.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from denselora.evaluation.generation import input_device

__all__ = ["OptionChoice", "choose", "encode_pair", "option_loglikelihoods"]


def encode_pair(tokenizer: PreTrainedTokenizerBase, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Token ids of ``context`` and of ``continuation`` after it, split as lm-evaluation-harness splits them.

    Args:
        tokenizer: the model's tokenizer, with its own special-token defaults (a BOS if it adds one).
        context: the prompt; must not be empty.
        continuation: the text to score after it.

    Returns:
        ``(context ids, continuation ids)``: the context without its trailing whitespace, tokenized alone, and the
        tokens of ``context + continuation`` past the context's length.
    """
    if not context:
        raise ValueError("a likelihood prompt must not be empty")
    stripped = context.rstrip()
    continuation = context[len(stripped) :] + continuation
    whole = tokenizer(stripped + continuation)["input_ids"]
    context_ids = tokenizer(stripped)["input_ids"]
    return list(context_ids), list(whole[len(context_ids) :])


@torch.no_grad()
def option_loglikelihoods(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    contexts: Sequence[str],
    continuations: Sequence[Sequence[str]],
) -> list[list[float]]:
    """The summed log-probability of each continuation of each context, in one pass over a batch.

    Args:
        model: a Hugging Face causal LM that takes a KV cache, ``position_ids`` and ``logits_to_keep`` (a PEFT
            model passes them on), in eval mode.
        tokenizer: its tokenizer.
        contexts: ``batch`` prompts.
        continuations: for each prompt, the texts to score after it (any number per prompt, at least one).

    Returns:
        For each prompt, the summed log-probability (natural log) of each of its continuations, summed in float64
        from a float32 log-softmax.
    """
    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts but {len(continuations)} lists of continuations")
    if any(len(options) == 0 for options in continuations):
        raise ValueError("every context needs at least one continuation to score")
    if not contexts:
        return []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = []
    for item, (context, options) in enumerate(zip(contexts, continuations, strict=True)):
        pairs = [encode_pair(tokenizer, context, option) for option in options]
        for option, (_, continuation_ids) in zip(options, pairs, strict=True):
            if not continuation_ids:
                raise ValueError(f"the continuation {option!r} of item {item} has no tokens")
        # The context is tokenized alone, so its ids are the same for every option.
        encoded.append((pairs[0][0], [continuation_ids for _, continuation_ids in pairs]))
    scores: list[list[float]] = [[] for _ in contexts]
    for group in _length_groups([options for _, options in encoded]):
        for item, item_scores in zip(group, _score_encoded(model, [encoded[i] for i in group], pad), strict=True):
            scores[item] = item_scores
    return scores


def _length_groups(options: Sequence[Sequence[Sequence[int]]]) -> list[list[int]]:
    """The items in groups of similar option lengths, each scored in one pass: the options of a group are padded to
    its longest, and one batch of PIQA's solutions (a few tokens to a hundred) padded as one would be mostly padding.

    Items are ordered by their longest option; a group grows while its options padded to the longest stay within
    1.5 times their real tokens (plus a little slack for short ones).
    """
    order = sorted(range(len(options)), key=lambda item: max(len(ids) for ids in options[item]))
    groups: list[list[int]] = []
    rows = real = 0
    for item in order:
        longest = max(len(ids) for ids in options[item])  # the longest of the group so far, by the order
        item_rows, item_real = len(options[item]), sum(len(ids) for ids in options[item])
        if groups and (rows + item_rows) * longest <= 1.5 * (real + item_real) + 64:
            groups[-1].append(item)
            rows, real = rows + item_rows, real + item_real
        else:
            groups.append([item])
            rows, real = item_rows, item_real
    return groups


def _score_encoded(model: nn.Module, encoded: list[tuple[list[int], list[list[int]]]], pad: int) -> list[list[float]]:
    """:func:`option_loglikelihoods` of items already tokenized: ``(context ids, [option ids, ...])`` each."""
    device = input_device(model)
    prompt_ids = [context_ids for context_ids, _ in encoded]
    option_ids = [ids for _, options in encoded for ids in options]  # one row per (item, option), item-major
    owner = [item for item, (_, options) in enumerate(encoded) for _ in options]  # the item of each option row

    first_logits, cache, prompt_mask = _run_prompts(model, prompt_ids, pad, device)
    rows = torch.tensor(owner)
    cache.reorder_cache(rows.to(device))  # each option row gets its prompt's keys and values

    # The options, right-padded after their prompts.
    options, option_mask = _padded(option_ids, pad, left=False)
    positions = prompt_mask.sum(-1)[rows][:, None] + torch.arange(options.shape[1])[None, :]
    arguments = {
        "input_ids": options.to(device),
        "attention_mask": torch.cat([prompt_mask[rows], option_mask], dim=1).to(device),
        "position_ids": positions.to(device),
        "use_cache": True,
        **_cache_argument(model, cache),
    }
    # Token t of an option is predicted by the prompt's last position (t = 0) or by option position t - 1.
    targets = options.to(device)
    real = option_mask[:, 1:].bool().to(device)
    first = _token_logprobs(first_logits[rows.to(device)], targets[:, 0])
    rest = torch.zeros(real.shape, dtype=torch.float64, device=device)
    rest[real] = _token_logprobs(_logits_at(model, arguments, real), targets[:, 1:][real])
    sums = (first + rest.sum(-1)).tolist()

    scores: list[list[float]] = [[] for _ in encoded]
    for item, value in zip(owner, sums, strict=True):
        scores[item].append(value)
    return scores


def _logits_at(model: nn.Module, arguments: dict[str, Any], real: torch.Tensor) -> torch.Tensor:
    """The float32 logits of the options' forward pass at the positions ``real`` marks (``[rows, length - 1]``, one
    column fewer than the options: the last position predicts nothing).

    Long options padded to the longest of the batch would spend most of the model's head, a ``vocab``-wide
    product, on padding (a PIQA batch: two solutions of up to a hundred tokens each). Where the model's logits are
    its output embedding of its decoder's last hidden state (:func:`_head_of`), the decoder runs alone and the
    head is applied at the real positions only; any other model runs whole.
    """
    parts = _head_of(model)
    if parts is None:
        return model(**arguments).logits[:, :-1][real].float()
    decoder, head = parts
    hidden = decoder(**arguments).last_hidden_state
    return head(hidden[:, :-1][real]).float()


#: Per model: its decoder and output embedding when they make its logits, else ``None`` (decided once).
_HEADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _head_of(model: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    """The model's decoder (its ``base_model``) and output embedding, when ``head(decoder(x))`` gives the model's
    own logits; ``None`` for a model that scales or caps its logits, or is built otherwise.

    Checked once per model on a short input, in float32 tolerance. A PEFT model is read through the model it wraps,
    which holds the injected adapter layers.
    """
    if model in _HEADS:
        return _HEADS[model]
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(inner, "base_model", None)
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    parts = None
    if isinstance(decoder, nn.Module) and decoder is not inner and isinstance(head, nn.Module):
        probe = torch.arange(1, 5, device=input_device(model))[None, :]
        try:
            mine = head(decoder(input_ids=probe).last_hidden_state).float()
            theirs = model(input_ids=probe).logits.float()
            parts = (decoder, head) if torch.allclose(mine, theirs, rtol=1e-3, atol=1e-3) else None
        except (TypeError, AttributeError, RuntimeError):  # a decoder that does not take input ids this way
            parts = None
    _HEADS[model] = parts
    return parts


def _run_prompts(
    model: nn.Module, prompt_ids: list[list[int]], pad: int, device: torch.device
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Run the prompts of a batch, keeping their KV cache.

    The tokens every prompt starts with (the template's preamble) run once, for one row, and their keys and values
    are shared by all rows; the rest of each prompt follows, left-padded, so that every prompt ends in the last
    column, whose logits predict each option's first token.

    Returns:
        The last position's logits ``[items, vocab]`` (float32), the cache, and the attention mask over the cached
        positions ``[items, cached]`` (1 on a prompt's tokens).
    """
    rows = len(prompt_ids)
    shared = _shared_prefix_length(prompt_ids) if rows > 1 else 0
    cache_argument: dict[str, Any] = {}
    if shared >= MIN_SHARED_PREFIX:
        out = model(input_ids=torch.tensor([prompt_ids[0][:shared]], device=device), use_cache=True, logits_to_keep=1)
        cache = _returned_cache(out)
        cache.reorder_cache(torch.zeros(rows, dtype=torch.long, device=device))
        cache_argument = _cache_argument(model, cache)
    else:
        shared = 0
    prompts, rest_mask = _padded([ids[shared:] for ids in prompt_ids], pad, left=True)
    prompt_mask = torch.cat([torch.ones(rows, shared, dtype=torch.long), rest_mask], dim=1)
    out = model(
        input_ids=prompts.to(device),
        attention_mask=prompt_mask.to(device),
        position_ids=(shared + (rest_mask.cumsum(-1) - 1).clamp(min=0)).to(device),
        use_cache=True,
        logits_to_keep=1,
        **cache_argument,
    )
    return out.logits[:, -1].float(), _returned_cache(out), prompt_mask


def _padded(rows: list[list[int]], pad: int, *, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` as one ``[n, longest]`` tensor padded with ``pad`` on the left or the right, and its mask."""
    width = max(len(ids) for ids in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, values in enumerate(rows):
        span = slice(width - len(values), width) if left else slice(0, len(values))
        ids[row, span] = torch.tensor(values)
        mask[row, span] = 1
    return ids, mask


#: Shorter common prompt starts than this are not worth a forward pass of their own.
MIN_SHARED_PREFIX = 8


def _shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """The number of tokens all ``rows`` start with, leaving each row at least one token of its own."""
    shortest = min(len(row) for row in rows) - 1
    length = 0
    while length < shortest and all(row[length] == rows[0][length] for row in rows):
        length += 1
    return length


def _token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log_softmax(logits)[target]`` of each row (``[n, vocab]`` and ``[n]``), in float64."""
    picked = torch.gather(logits, -1, targets[:, None])[:, 0]
    return (picked - torch.logsumexp(logits, dim=-1)).double()


def _returned_cache(output: Any) -> Any:
    """The KV cache a forward returned (``cache`` in newer transformers releases, ``past_key_values`` before)."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values


def _cache_argument(model: nn.Module, cache: Any) -> dict[str, Any]:
    """``{"cache": cache}`` for transformers releases that name the argument so, else ``past_key_values``.

    A PEFT model's forward takes ``**kwargs`` and hands them on, so the name is read from the model it wraps.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(inner.forward).parameters
    return {"cache": cache} if "cache" in parameters else {"past_key_values": cache}


@dataclass(frozen=True)
class OptionChoice:
    """The options an item's log-likelihoods pick.

    Attributes:
        loglikelihoods: each option's summed log-probability.
        choice: the index ``acc`` picks (highest sum).
        choice_norm: the index ``acc_norm`` picks (highest sum per character of the option's text).
    """

    loglikelihoods: tuple[float, ...]
    choice: int
    choice_norm: int


def choose(loglikelihoods: Sequence[float], choices: Sequence[str]) -> OptionChoice:
    """Pick by ``acc`` and by ``acc_norm`` (ties go to the first option, as ``numpy.argmax``).

    Args:
        loglikelihoods: each option's summed log-probability.
        choices: the options' texts, whose lengths in characters normalise ``acc_norm`` (without any delimiter
            that the continuation put in front of them, as the harness counts them).
    """
    if len(loglikelihoods) != len(choices) or not choices:
        raise ValueError(f"{len(loglikelihoods)} log-likelihoods for {len(choices)} options")
    values = [float(value) for value in loglikelihoods]
    normalised = [value / max(1, len(text)) for value, text in zip(values, choices, strict=True)]
    return OptionChoice(tuple(values), values.index(max(values)), normalised.index(max(normalised)))
