"""Tokenisation of real records exactly as LLM-Adapters' generate_and_tokenize_prompt (finetune.py)."""

from __future__ import annotations

import json

import pytest

from denselora.data import IGNORE_INDEX, PromptTokenizer, format_prompt, tokenize_training_example


@pytest.fixture(scope="module")
def boolq_records(shared_data):
    return json.loads(shared_data.test_set("boolq").read_text(encoding="utf-8"))[:40]


@pytest.fixture(scope="module")
def math_records(shared_data):
    return json.loads(shared_data.path("ft-training_set/math_data.json").read_text(encoding="utf-8"))[:40]


@pytest.mark.parametrize("template", ["alpaca", "authors"])
def test_labels_are_the_inputs_and_end_with_eos(tiny_tokenizer, boolq_records, template):
    for record in boolq_records:
        out = tokenize_training_example(record, tiny_tokenizer, template, cutoff_len=256, train_on_inputs=True)
        ids = out["input_ids"]
        assert out["labels"] == ids and out["length"] == len(ids)
        assert ids[0] == tiny_tokenizer.bos_token_id
        assert ids[-1] == tiny_tokenizer.eos_token_id and ids.count(tiny_tokenizer.eos_token_id) == 1
        text = format_prompt(template, record["instruction"], record["input"], record["output"])
        assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == text


def test_the_two_templates_differ_only_in_whitespace(tiny_tokenizer, boolq_records):
    record = boolq_records[0]
    clean = tokenize_training_example(record, tiny_tokenizer, "alpaca")["input_ids"]
    verbatim = tokenize_training_example(record, tiny_tokenizer, "authors")["input_ids"]
    assert verbatim != clean
    decoded = tiny_tokenizer.decode(verbatim, skip_special_tokens=True)
    assert "request.  \n\n" + " " * 16 + "### Instruction:" in decoded
    assert decoded.split() == tiny_tokenizer.decode(clean, skip_special_tokens=True).split()


@pytest.mark.parametrize("template", ["alpaca", "authors"])
def test_prompt_masking(tiny_tokenizer, boolq_records, template):
    for record in boolq_records:
        out = tokenize_training_example(record, tiny_tokenizer, template, cutoff_len=256, train_on_inputs=False)
        prompt_len = len(tiny_tokenizer(format_prompt(template, record["instruction"]))["input_ids"])
        assert out["labels"][:prompt_len] == [IGNORE_INDEX] * prompt_len
        assert out["labels"][prompt_len:] == out["input_ids"][prompt_len:]
        # What is left to learn is the answer and the EOS.
        kept = [token for token in out["labels"] if token != IGNORE_INDEX]
        assert kept[-1] == tiny_tokenizer.eos_token_id
        assert tiny_tokenizer.decode(kept, skip_special_tokens=True).strip().endswith(record["answer"])


def test_truncation_keeps_cutoff_and_adds_no_eos(tiny_tokenizer, math_records):
    cutoff = 48
    lengths = []
    for record in math_records:
        out = tokenize_training_example(record, tiny_tokenizer, "authors", cutoff_len=cutoff)
        full = tokenize_training_example(record, tiny_tokenizer, "authors", cutoff_len=4096)["input_ids"]
        ids = out["input_ids"]
        lengths.append(len(ids))
        assert len(ids) <= cutoff
        if len(full) > cutoff:  # truncated: the first `cutoff` tokens, no room for EOS
            assert ids == full[:cutoff] and ids[-1] != tiny_tokenizer.eos_token_id
        else:
            assert ids == full
    assert max(lengths) == cutoff  # the records are long enough for the test to mean something


def test_eos_is_added_only_when_there_is_room(tiny_tokenizer, boolq_records):
    record = boolq_records[0]
    natural = len(tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff_len=4096)["input_ids"])
    # natural includes the EOS; at cutoff natural - 1 the text fills the sequence and EOS does not fit.
    exact = tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff_len=natural - 1)["input_ids"]
    assert len(exact) == natural - 1 and exact[-1] != tiny_tokenizer.eos_token_id
    roomy = tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff_len=natural)["input_ids"]
    assert len(roomy) == natural and roomy[-1] == tiny_tokenizer.eos_token_id


def test_masking_a_truncated_prompt_masks_everything(tiny_tokenizer, math_records):
    out = tokenize_training_example(math_records[0], tiny_tokenizer, "authors", cutoff_len=8, train_on_inputs=False)
    assert out["labels"] == [IGNORE_INDEX] * 8


def test_an_output_that_ends_with_eos_gets_no_second_one(tiny_tokenizer):
    # The reference appends EOS only when the sequence does not end with it already.
    record = {"instruction": "Is water wet?", "input": "", "output": "the correct answer is true</s>"}
    ids = tokenize_training_example(record, tiny_tokenizer, "alpaca")["input_ids"]
    assert ids[-1] == tiny_tokenizer.eos_token_id and ids.count(tiny_tokenizer.eos_token_id) == 1


def test_the_input_field_is_in_the_text_and_in_the_mask(tiny_tokenizer):
    # Needs no shared data: the masking rule on a record with an ``input``, which selects the longer header.
    record = {"instruction": "Is it wet?", "input": "water", "output": "the correct answer is true"}
    out = tokenize_training_example(record, tiny_tokenizer, "alpaca", train_on_inputs=False)
    ids, labels = out["input_ids"], out["labels"]
    text = format_prompt("alpaca", record["instruction"], record["input"], record["output"])
    assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == text
    assert out["length"] == len(ids) == len(labels) and ids[-1] == tiny_tokenizer.eos_token_id
    prompt = format_prompt("alpaca", record["instruction"], record["input"])
    prompt_len = len(tiny_tokenizer(prompt)["input_ids"])
    assert labels == [IGNORE_INDEX] * prompt_len + ids[prompt_len:]


def test_cutoff_and_eos_room_without_shared_data(tiny_tokenizer):
    record = {"instruction": "Add 3 and 4.", "input": "", "output": "3 plus 4 is 7. The answer is 7."}
    full = tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff_len=4096)["input_ids"]
    natural = len(full)  # with the EOS
    cut = tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff_len=12)["input_ids"]
    assert cut == full[:12] and cut[-1] != tiny_tokenizer.eos_token_id
    exact = tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff_len=natural - 1)["input_ids"]
    assert exact == full[:-1]  # the text fills the sequence: no room for EOS
    roomy = tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff_len=natural)["input_ids"]
    assert roomy == full and roomy[-1] == tiny_tokenizer.eos_token_id


def test_generation_prompts_have_bos_and_no_eos(tiny_tokenizer, boolq_records):
    batch = {
        "instruction": [r["instruction"] for r in boolq_records],
        "input": [r["input"] for r in boolq_records],
    }
    out = PromptTokenizer(tiny_tokenizer, "authors")(batch)
    for prompt, ids in zip(out["prompt"], out["input_ids"], strict=True):
        assert prompt.endswith("### Response:\n" + " " * 16)
        assert ids[0] == tiny_tokenizer.bos_token_id and tiny_tokenizer.eos_token_id not in ids
        assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == prompt


def _long_record(words: int, seed: int = 0) -> dict:
    import random

    rng = random.Random(seed)
    vocabulary = ["water", "boils", "at", "100", "degrees,", "ünïcödé", "\n\n", "1234567", "?!", "  ", "the", "Answer2"]
    return {"instruction": " ".join(rng.choice(vocabulary) for _ in range(words)), "input": "", "output": "true"}


@pytest.mark.parametrize("train_on_inputs", [True, False])
def test_a_text_cut_to_its_budget_gives_the_tokens_of_the_whole_text(tiny_tokenizer, train_on_inputs):
    from denselora.data.tokenization import text_budget

    cutoff = 64
    budget = text_budget(tiny_tokenizer, cutoff)
    record = _long_record(words=4 * budget)  # several times the budget: the cut is taken
    whole = tiny_tokenizer(format_prompt("alpaca", record["instruction"], "", "true"))["input_ids"][:cutoff]
    assert len(format_prompt("alpaca", record["instruction"], "", "true")) > 3 * budget
    cut = tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff, train_on_inputs)
    assert cut["input_ids"] == whole
    assert cut["labels"] == (whole if train_on_inputs else [IGNORE_INDEX] * cutoff)


def test_a_50_mb_record_is_tokenized_in_moments(tiny_tokenizer):
    import time

    record = {"instruction": "why " * 12_500_000, "input": "", "output": "because"}  # 50 MB
    started = time.perf_counter()
    out = tokenize_training_example(record, tiny_tokenizer, "alpaca", cutoff_len=256, train_on_inputs=False)
    assert time.perf_counter() - started < 5  # the whole text took minutes and 11 GB
    assert len(out["input_ids"]) == 256 and out["learned"] == 0


def test_a_text_the_normalizer_shrinks_below_the_budget_is_tokenized_whole():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from denselora.data.tokenization import _encode, text_budget

    words = ["[UNK]", "the", "answer", "is", "true"]
    backend = Tokenizer(models.WordLevel({word: index for index, word in enumerate(words)}, unk_token="[UNK]"))
    backend.normalizer = normalizers.Replace("#", "")  # characters the tokenizer drops before it splits
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    budget = text_budget(tokenizer, 4)
    text = "#" * (budget + 10) + " the answer is true"
    assert tokenizer(text[:budget])["input_ids"] == []  # the cut text holds no token at all
    assert _encode(tokenizer, [text], 4, budget) == [[1, 2, 3, 4]]
