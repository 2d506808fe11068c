"""Batched generation for evaluation: left-padded prompts, their attention mask, beam search or greedy."""

from __future__ import annotations

import torch
from torch import nn
from transformers import GenerationConfig, PreTrainedTokenizerBase
from transformers.generation.streamers import BaseStreamer

__all__ = ["generate_completions", "input_device"]


def input_device(model: nn.Module) -> torch.device:
    """The device that input ids must be on: the input embedding's.

    With a model split over devices (``device_map="auto"``) the first parameter can live anywhere; the token
    embedding is where the forward pass starts.
    """
    get_embeddings = getattr(model, "get_input_embeddings", None)
    embeddings = get_embeddings() if callable(get_embeddings) else None
    if embeddings is not None and getattr(embeddings, "weight", None) is not None:
        return embeddings.weight.device
    return next(model.parameters()).device


@torch.no_grad()
def generate_completions(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    max_new_tokens: int,
    num_beams: int = 4,
    streamer: BaseStreamer | None = None,
) -> list[str]:
    """Generate a completion for each left-padded prompt and decode only the new tokens.

    Args:
        model: a Hugging Face causal LM (or a wrapper with the same ``generate``).
        tokenizer: gives the EOS and pad ids and decodes.
        input_ids: ``LongTensor[batch, prompt_len]``, LEFT-padded prompts.
        attention_mask: ``LongTensor[batch, prompt_len]``, 0 on padding. Without it, padding would be
            attended to (and the position ids shifted), and a batched run would differ from one item at a
            time.
        max_new_tokens: generation budget per item; generation also stops at EOS.
        num_beams: 4 (the authors' beam search) or 1 (greedy).
        streamer: receives the tokens as they are generated (``transformers.TextStreamer``; one prompt, greedy).

    Returns:
        ``batch`` strings: the generated text after the prompt, special tokens removed.
    """
    if bool((attention_mask[:, -1] == 0).any()):
        # A right-padded row would continue from its padding instead of from its prompt.
        raise ValueError("prompts must be LEFT-padded for generation (a row ends with padding)")
    device = input_device(model)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        do_sample=False,
        num_return_sequences=1,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    sequences = model.generate(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        generation_config=config,
        **({} if streamer is None else {"streamer": streamer}),
    )
    # With left padding every prompt ends at column prompt_len - 1, so new tokens start at prompt_len.
    return tokenizer.batch_decode(sequences[:, input_ids.shape[1] :], skip_special_tokens=True)
