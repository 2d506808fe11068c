"""Where the real model's tokenizer differs from the built-in one: its pad token IS its EOS, its BOS is a chat
marker it never prepends, and it is a byte-level BPE. Training must still learn to stop, prompts must be the
configured template's text exactly, and scoring must read a decoded answer."""

import pytest

from denselora.data.collate import PaddingCollator
from denselora.data.prompts import format_prompt
from denselora.data.tokenization import IGNORE_INDEX, PromptTokenizer, TrainingTokenizer
from denselora.tasks import score

RECORDS = [
    {"instruction": "Please answer true or false: is water wet?", "input": "", "output": "the correct answer is true"},
    {
        "instruction": "Please choose the correct answer to the question: Which is a planet?\n\n"
        "Answer1: the Moon Answer2: Mars Answer3: the Sun\n\nAnswer format: answer1/answer2/answer3",
        "input": "",
        "output": "the correct answer is answer2",
    },
]


def _columns(records):
    return {key: [record[key] for record in records] for key in ("instruction", "input", "output")}


def test_the_real_tokenizer_pads_with_its_eos(real_tokenizer):
    assert real_tokenizer.pad_token_id == real_tokenizer.eos_token_id
    assert real_tokenizer.eos_token == "<|im_end|>" and real_tokenizer.bos_token == "<|im_start|>"


@pytest.mark.parametrize("train_on_inputs", [True, False])
def test_every_example_still_learns_its_eos_although_padding_is_eos(real_tokenizer, train_on_inputs):
    columns = TrainingTokenizer(real_tokenizer, "alpaca", 256, train_on_inputs)(_columns(RECORDS))
    eos = real_tokenizer.eos_token_id
    examples = [{"input_ids": i, "labels": l} for i, l in zip(columns["input_ids"], columns["labels"], strict=True)]
    batch = PaddingCollator(real_tokenizer.pad_token_id, padding_side="right")(examples)
    for row, example in enumerate(examples):
        length = len(example["input_ids"])
        assert example["input_ids"][-1] == eos and batch["labels"][row, length - 1] == eos  # the stop is learned
        assert batch["attention_mask"][row, :length].all() and not batch["attention_mask"][row, length:].any()
        assert (batch["labels"][row, length:] == IGNORE_INDEX).all()  # padding (also id eos) is not learned
    shorter = min(range(len(examples)), key=lambda row: len(examples[row]["input_ids"]))
    assert (batch["input_ids"][shorter, len(examples[shorter]["input_ids"]) :] == eos).any()


def test_prompts_are_the_template_text_with_no_chat_marker(real_tokenizer):
    batch = PromptTokenizer(real_tokenizer, "alpaca")(_columns(RECORDS))
    for record, ids, prompt in zip(RECORDS, batch["input_ids"], batch["prompt"], strict=True):
        assert prompt == format_prompt("alpaca", record["instruction"], record["input"])
        assert real_tokenizer.bos_token_id not in ids  # nothing prepended: the text is the template's
        assert real_tokenizer.decode(ids) == prompt  # byte-level BPE: the prompt's exact characters, spaces included


@pytest.mark.parametrize(
    ("dataset", "answer", "gold"),
    [("boolq", "the correct answer is true", "true"), ("ARC-Easy", "the correct answer is answer2", "answer2")],
)
def test_a_decoded_answer_is_scored(real_tokenizer, dataset, answer, gold):
    generated = real_tokenizer(answer)["input_ids"] + [real_tokenizer.eos_token_id] * 3  # stop, then padding
    completion = real_tokenizer.decode(generated, skip_special_tokens=True)
    assert completion == answer
    outcome = score(dataset, completion, gold)
    assert outcome.correct and outcome.prediction == gold


@pytest.mark.parametrize("train_on_inputs", [True, False])
def test_a_text_cut_to_its_budget_gives_the_real_tokenizers_tokens_of_the_whole_text(real_tokenizer, train_on_inputs):
    from denselora.data.tokenization import text_budget

    cutoff = 256
    instruction = (RECORDS[1]["instruction"] + " ") * (3 * text_budget(real_tokenizer, cutoff) // 150)
    record = {"instruction": instruction, "input": "", "output": "the correct answer is answer2"}
    whole = real_tokenizer([format_prompt("alpaca", instruction, "", record["output"])])["input_ids"][0][:cutoff]
    columns = TrainingTokenizer(real_tokenizer, "alpaca", cutoff, train_on_inputs)(_columns([record]))
    assert len(instruction) > 2 * text_budget(real_tokenizer, cutoff)
    assert columns["input_ids"][0] == whole
