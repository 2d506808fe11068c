"""Reading the options of LLM-Adapters instructions, on real records of every commonsense set."""

from __future__ import annotations

import json

import pytest

from denselora.tasks.choices import OptionsError, choices_from_fields, parse_choices
from tests.data.conftest import SHARED_COMMONSENSE

#: The first test record of each set, as LLM-Adapters writes it: (options, gold index, bare question).
FIRST_RECORDS = {
    "boolq": (("true", "false"), 1, "does ethanol take more energy make that produces?"),
    "piqa": (2, 0, "How do I ready a guinea pig cage for it's new occupants?"),
    "social_i_qa": (
        ("make a new plan", "Go home and see Riley", "Find somewhere to go"),
        2,
        "Tracy didn't go home that evening and resisted Riley's attacks. What does Tracy need to do before this?",
    ),
    "winogrande": (
        ("Sarah", "Maria"),
        1,
        "Sarah was a much better surgeon than Maria so _ always got the easier cases.",
    ),
    "ARC-Challenge": (4, 2, None),
    "ARC-Easy": (
        (
            "Sunlight is the source of energy for nearly all ecosystems.",
            "Most ecosystems are found on land instead of in water.",
            "Carbon dioxide is more available than other gases.",
            "The producers in all ecosystems are plants.",
        ),
        0,
        "Which statement best explains why photosynthesis is the foundation of most food webs?",
    ),
    "openbookqa": (
        ("make more phone calls", "quit eating lunch out", "buy less with monopoly money", "have lunch with friends"),
        1,
        None,
    ),
}


@pytest.mark.parametrize("name", SHARED_COMMONSENSE)
def test_every_real_record_of_each_set_parses(shared_data, name):
    records = json.loads(shared_data.test_set(name).read_text())
    items = [parse_choices(record["instruction"], record["answer"]) for record in records]
    options, gold, question = FIRST_RECORDS[name]
    first = items[0]
    if isinstance(options, int):
        assert len(first.choices) == options
    else:
        assert first.choices == options
    assert first.gold == gold
    if question is not None:
        assert first.question == question
    for record, item in zip(records, items, strict=True):
        # The label the record answers with names the option the item says is right.
        assert item.labels[item.gold] == record["answer"]
        assert item.instruction.startswith("Please ") and "Answer format" not in item.instruction
        # No option text swallowed the next option's marker or the question.
        assert all(choice and choice in record["instruction"] for choice in item.choices)
        assert not any(f"{label[:-1].capitalize()}{label[-1]}:" in " ".join(item.choices) for label in item.labels)


def test_training_records_parse_too(shared_data):
    for name in ("boolq", "ARC-Easy", "ARC-Challenge", "openbookqa"):
        records = json.loads(shared_data.path(f"dataset/{name}/train.json").read_text())
        assert all(parse_choices(r["instruction"], r["answer"]).gold is not None for r in records)


def test_hellaswag_format():
    # The format of LLM-Adapters' hellaswag records (the set is too large to carry into the tests' data).
    instruction = (
        "Please choose the correct ending to complete the given sentence: Roof shingle removal: A man is sitting on "
        "a roof. he\n\nEnding1: is using wrap to wrap a pair of skis. Ending2: is ripping level tiles off. "
        "Ending3: is holding a rubik's cube. Ending4: starts pulling up roofing on a roof.\n\n"
        "Answer format: ending1/ending2/ending3/ending4"
    )
    item = parse_choices(instruction, "ending4")
    assert item.question == "Roof shingle removal: A man is sitting on a roof. he"
    assert item.choices == (
        "is using wrap to wrap a pair of skis.",
        "is ripping level tiles off.",
        "is holding a rubik's cube.",
        "starts pulling up roofing on a roof.",
    )
    assert item.gold == 3 and item.gold_text == "starts pulling up roofing on a roof."


def test_each_marker_is_looked_for_after_the_one_before():
    instruction = (
        "Please choose the correct answer to the question: Is Answer2: a word?\n\nAnswer1: yes Answer2: no\n\n"
        "Answer format: answer1/answer2"
    )
    item = parse_choices(instruction)
    # An "Answer2:" in the question comes before "Answer1:" and so opens no option; only the first marker of each
    # number after the previous one does.
    assert item.choices == ("yes", "no")


@pytest.mark.parametrize(
    ("instruction", "answer", "message"),
    [
        ("What is 2 + 2?", "4", "no 'Answer format"),
        ("Q?\n\nAnswer1: a Answer2: b\n\nAnswer format: answer1/answer3", None, "is not answer1/answer2"),
        ("Q?\n\nAnswer1: a\n\nAnswer format: answer1/answer2", None, "no 'Answer2:' option"),
        ("Q?\n\nChoice1: a Choice2: b\n\nAnswer format: choice1/choice2", None, "neither true/false"),
        ("Q?\n\nAnswer1: a Answer2: b\n\nAnswer format: answer1/answer2", "answer3", "not one of its labels"),
    ],
)
def test_unreadable_instructions_say_why(instruction, answer, message):
    with pytest.raises(OptionsError, match=message):
        parse_choices(instruction, answer)


def test_records_of_ones_own_give_choices_and_gold():
    item = choices_from_fields("Pick the colour of the sky.", ["green", "blue"], 1)
    assert item.instruction == "Pick the colour of the sky." and item.choices == ("green", "blue")
    assert item.gold_text == "blue"
    with pytest.raises(OptionsError, match="no 'gold'"):
        choices_from_fields("Q", ["a", "b"], None)
    with pytest.raises(OptionsError, match="index into its 2 choices"):
        choices_from_fields("Q", ["a", "b"], 2)
    with pytest.raises(OptionsError, match="at least two"):
        choices_from_fields("Q", ["a"], 0)
    with pytest.raises(OptionsError, match="index"):
        choices_from_fields("Q", ["a", "b"], True)
