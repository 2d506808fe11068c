"""Prompt templates, character for character (``generate_prompt`` in the authors' ``finetune.py``)."""

from __future__ import annotations

import pytest

from denselora.data import format_prompt

HEADER = "Below is an instruction that describes a task. Write a response that appropriately completes the request."


def test_clean_alpaca_template():
    expected = f"{HEADER}\n\n### Instruction:\nWhat is 2+2?\n\n### Response:\nThe answer is 4."
    assert format_prompt("alpaca", "What is 2+2?", output="The answer is 4.") == expected


def test_authors_verbatim_template_whitespace():
    # The authors' commonsense_reasoning/finetune.py (github.com/mulin-ahu/DenseLoRA), generate_prompt: two
    # trailing spaces after "request.", 16 leading spaces on every later non-empty line and on the line between
    # instruction and response.
    pad = " " * 16
    expected = (
        HEADER + "  \n\n"
        + pad + "### Instruction:\n"
        + pad + "What is 2+2?\n"
        + pad + "\n"
        + pad + "### Response:\n"
        + pad + "The answer is 4."
    )  # fmt: skip
    assert format_prompt("authors", "What is 2+2?", output="The answer is 4.") == expected


def test_generation_prompt_is_the_training_prompt_without_output():
    for template in ("alpaca", "authors"):
        full = format_prompt(template, "q", output="the correct answer is true")
        prompt = format_prompt(template, "q")
        assert full == prompt + "the correct answer is true"
        assert prompt.endswith("### Response:\n" + (" " * 16 if template == "authors" else ""))


def test_authors_evaluation_script_template():
    pad = " " * 16
    expected = HEADER + " \n\n" + pad + "### Instruction:\n" + pad + "q\n\n" + pad + "### Response:\n" + pad
    assert format_prompt("authors_eval", "q") == expected


def test_input_field_uses_the_input_variant():
    prompt = format_prompt("alpaca", "Translate.", input="Hallo", output="Hello")
    assert "paired with an input" in prompt
    assert prompt.endswith("### Instruction:\nTranslate.\n\n### Input:\nHallo\n\n### Response:\nHello")


def test_braces_in_text_are_kept_verbatim():
    assert "{output}" in format_prompt("alpaca", "print('{output}')")


def test_unknown_template():
    with pytest.raises(ValueError, match="alpaca"):
        format_prompt("vicuna", "q")
