"""Batched left-padded generation must give what one-at-a-time generation gives."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from denselora.data import PaddingCollator, format_prompt
from denselora.evaluation import generate_completions, input_device
from tests.evaluation.conftest import build_model

PROMPTS = [
    format_prompt("alpaca", "Tom has 3 apples. Tom gets 4 more. How many apples does Tom have now?"),
    format_prompt("alpaca", "Is 7 an even number?"),
    format_prompt("authors", "Please choose the correct answer to the question: which one?\n\nAnswer1: 3 Answer2: 4"),
    "short",
]


@pytest.fixture(scope="module")
def eos_padded(tiny_tokenizer):
    # Pad with EOS, as many LLaMA-3 setups do: then generate() cannot guess the mask from the ids, so a
    # missing attention mask really changes the output and these tests would catch it.
    tokenizer = copy.deepcopy(tiny_tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, build_model(tokenizer, seed=1, pad_token_id=tokenizer.eos_token_id)


def _batch(tokenizer, prompts):
    encoded = [{"input_ids": tokenizer(prompt)["input_ids"]} for prompt in prompts]
    return PaddingCollator(tokenizer.pad_token_id, padding_side="left")(encoded)


@pytest.mark.parametrize("num_beams", [1, 4])
def test_batched_equals_one_at_a_time(eos_padded, num_beams):
    tokenizer, model = eos_padded
    batch = _batch(tokenizer, PROMPTS)
    assert not batch["attention_mask"].all()  # there is padding to get wrong
    batched = generate_completions(
        model, tokenizer, batch["input_ids"], batch["attention_mask"], max_new_tokens=12, num_beams=num_beams
    )
    single = []
    for prompt in PROMPTS:
        one = _batch(tokenizer, [prompt])
        single += generate_completions(
            model, tokenizer, one["input_ids"], one["attention_mask"], max_new_tokens=12, num_beams=num_beams
        )
    assert batched == single
    assert any(text.strip() for text in batched)  # a random model still says something


def test_the_comparison_detects_a_missing_mask(eos_padded):
    # Guard for the test above: without the mask the same batch decodes differently.
    tokenizer, model = eos_padded
    batch = _batch(tokenizer, PROMPTS)
    masked = generate_completions(model, tokenizer, batch["input_ids"], batch["attention_mask"], 12, num_beams=1)
    unmasked = model.generate(
        input_ids=batch["input_ids"], max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.eos_token_id
    )
    decoded = tokenizer.batch_decode(unmasked[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert decoded != masked


def test_right_padding_is_refused(tiny_tokenizer, tiny_model):
    encoded = [{"input_ids": tiny_tokenizer(prompt)["input_ids"]} for prompt in PROMPTS[:2]]
    batch = PaddingCollator(tiny_tokenizer.pad_token_id, padding_side="right")(encoded)
    with pytest.raises(ValueError, match="LEFT"):
        generate_completions(tiny_model, tiny_tokenizer, batch["input_ids"], batch["attention_mask"], 4)


def test_inputs_go_to_the_embedding_device(tiny_model):
    class Split(nn.Module):  # first parameter on one device, the embedding on another
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(2, 2)
            self.embed = nn.Embedding(4, 2, device="meta")

        def get_input_embeddings(self):
            return self.embed

    assert input_device(Split()) == torch.device("meta")
    assert input_device(tiny_model) == tiny_model.model.embed_tokens.weight.device
