"""The ``option_text`` training target: the question without its options, answered by the right option's text."""

from __future__ import annotations

import json

import datasets
import pytest

from denselora.data import LLMAdaptersDataModule
from denselora.data.eval_sets import load_eval_set
from denselora.data.prompts import format_prompt
from denselora.data.targets import apply_train_target
from denselora.errors import DataError
from denselora.tasks.choices import parse_choices


def test_real_training_records_answer_with_the_right_option(shared_data):
    for name in ("ARC-Easy", "boolq", "openbookqa"):
        raw = json.loads(shared_data.path(f"dataset/{name}/train.json").read_text())[:50]
        records = datasets.Dataset.from_list(raw)
        rewritten = apply_train_target(records, "option_text", name)
        for before, after in zip(raw, rewritten, strict=True):
            item = parse_choices(before["instruction"], before["answer"])
            assert after["instruction"] == item.instruction and "Answer format" not in after["instruction"]
            assert after["output"] == item.gold_text
            assert after["answer"] == before["answer"]
            if name == "boolq":
                assert after["output"] == before["answer"]  # true/false as they are


def test_training_and_likelihood_scoring_share_the_prompt(shared_data, tiny_tokenizer, datasets_cache):
    # The same record as a training example and as a test item: the training text is the scoring prompt followed by
    # the right option, so scoring compares exactly what training taught.
    record = json.loads(shared_data.test_set("ARC-Easy").read_text())[0]
    trained = apply_train_target(datasets.Dataset.from_list([record]), "option_text", "ARC-Easy")[0]
    eval_set = load_eval_set(shared_data.root, "ARC-Easy", tiny_tokenizer, "alpaca", limit=1, cache_dir=datasets_cache)
    prompt = eval_set.likelihood_prompts()[0]
    assert format_prompt("alpaca", trained["instruction"], output=trained["output"]) == prompt + trained["output"]
    assert trained["output"] == eval_set.choices[0].choices[eval_set.choices[0].gold]


def test_records_without_options_keep_their_output():
    records = datasets.Dataset.from_list(
        [
            {"instruction": "What is 2 + 3?", "input": "", "output": "\nA: 2 + 3 = 5. The answer is 5.", "answer": "5"},
            {
                "instruction": "Please answer the following question with true or false, question: is 4 even?"
                "\n\nAnswer format: true/false",
                "input": "",
                "output": "the correct answer is true",
                "answer": "true",
            },
        ]
    )
    rewritten = apply_train_target(records, "option_text", "mixed.json")
    assert rewritten[0]["output"] == records[0]["output"] and rewritten[0]["instruction"] == "What is 2 + 3?"
    assert rewritten[1]["output"] == "true"
    assert apply_train_target(records, "output", "mixed.json") is records


def test_option_text_needs_labelled_multiple_choice_records():
    math_only = datasets.Dataset.from_list([{"instruction": "1 + 1?", "input": "", "output": "2", "answer": "2"}])
    with pytest.raises(DataError, match="found no multiple-choice or true/false record"):
        apply_train_target(math_only, "option_text", "math.json")
    unlabelled = datasets.Dataset.from_list([{"instruction": "1 + 1?", "input": "", "output": "2"}])
    with pytest.raises(DataError, match="no 'answer' field"):
        apply_train_target(unlabelled, "option_text", "x.json")


def test_the_data_module_trains_and_validates_on_option_text(quickstart_root, tiny_tokenizer, datasets_cache):
    dm = LLMAdaptersDataModule(
        str(quickstart_root),
        train_file="ft-training_set/synthetic_train.json",
        val_size=8,
        train_on_inputs=False,
        train_target="option_text",
        cache_dir=datasets_cache,
    )
    dm.setup("fit")
    ids = list(dm.train_dataset["input_ids"]) + list(dm.val_dataset["input_ids"])
    texts = [tiny_tokenizer.decode(row) for row in ids]
    # Training and validation alike: no listed options, no label answers; the math records keep their working.
    assert not any("Answer format" in text or "the correct answer is" in text for text in texts)
    assert any("The answer is" in text for text in texts)


def test_bad_settings_are_refused_at_once(quickstart_root):
    with pytest.raises(DataError, match="train_target must be one of output, option_text"):
        LLMAdaptersDataModule(str(quickstart_root), train_target="text")
    with pytest.raises(DataError, match="val_generation_size 0"):
        LLMAdaptersDataModule(str(quickstart_root), train_target="option_text", val_generation_size=4)
