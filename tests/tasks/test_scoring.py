"""Held-back answer-rule cases from LLM-Adapters' extraction, quirks included.

The reference: ``extract_answer`` in ``commonsense_evaluate.py`` and ``extract_answer_number`` and
``extract_answer_letter`` in ``evaluate.py`` of https://github.com/AGI-Edgerunners/LLM-Adapters.
"""

from __future__ import annotations

import pytest

from denselora.tasks import (
    COMMONSENSE_DATASETS,
    MATH_DATASETS,
    UnknownTaskError,
    extract_response,
    get_task,
    infer_task,
    is_correct,
    known_tasks,
    register_task,
    resolve_task,
    score,
)
from denselora.tasks.rules import NumberRule

# (dataset, response, gold, expected)
COMMONSENSE_CASES = [
    ("boolq", "the correct answer is true", "true", True),
    ("boolq", "the correct answer is false", "true", False),
    ("boolq", "false, or rather true", "true", False),  # the FIRST label counts
    ("boolq", "true or false? false", "false", False),
    ("boolq", "the correct answer is True", "true", False),  # case-sensitive: no match is wrong
    ("boolq", "True, it is false", "false", True),  # case-sensitive: "True" is no label, "false" is the first
    ("boolq", "", "false", False),
    ("boolq", "I do not know", "false", False),
    ("boolq", "it is untrue", "true", True),  # no word boundary in the reference regex
    ("boolq", "  \n the correct answer is false.\n", "false", True),
    ("piqa", "the correct answer is solution2", "solution2", True),
    ("piqa", "solution1 is better than solution2", "solution2", False),
    ("piqa", "Solution2", "solution2", False),
    ("piqa", "solution 2", "solution2", False),
    ("social_i_qa", "the correct answer is answer3", "answer3", True),
    ("social_i_qa", "answer2answer3", "answer3", False),
    ("ARC-Challenge", "answer4.", "answer4", True),
    ("ARC-Easy", "the correct answer is answer5", "answer5", True),
    ("ARC-Easy", "answer 1", "answer1", False),
    ("openbookqa", "the correct answer is answer1, not answer2", "answer1", True),
    ("openbookqa", "Answer1", "answer1", False),
    ("hellaswag", "the correct answer is ending4", "ending4", True),
    ("hellaswag", "ending5 then ending2", "ending2", True),  # ending5 is not in the vocabulary
    ("winogrande", "the correct answer is option2", "option2", True),
    ("winogrande", "Option2", "option2", False),
    ("winogrande", "option1 option2", "option2", False),
]

MATH_CASES = [
    ("gsm8k", "He needs 24 * 24 = 576 tiles. The answer is 576.", "576.0", True),
    ("gsm8k", "The answer is 1,234.", "1234", True),  # commas dropped
    ("gsm8k", "1,000,000 people", "1000000.0", True),
    ("gsm8k", "The answer is 576. That is 24 rows.", "576", False),  # the LAST number counts
    ("AddSub", "There are 7 - 3 = 4 crayons. The answer is 4", "4", True),
    ("AddSub", "The answer is -5.", "-5", True),
    ("AddSub", "The answer is 5.", "-5", False),
    ("AddSub", "The change is 8-13", "-13", True),  # "-13" is read as a negative number
    ("SVAMP", "The answer is 3.14159", "3.1415", True),  # within 0.001
    ("SVAMP", "The answer is 2.002", "2", False),  # 0.002 away
    ("SVAMP", "The answer is 2.001", "2", True),
    ("MultiArith", "The answer is 15.", "15.0", True),
    ("MultiArith", "There is no way to know.", "15.0", False),  # no number is wrong
    ("MultiArith", "", "0", False),
    ("SingleEq", "x = 1.5.2", "2", True),  # "1.5.2" reads as 1.5 then 2
    ("mawps", "The answer is 12", 12, True),  # gold may be a JSON number
    ("mawps", "The answer is 0.5", 0.5, True),
]

AQUA_CASES = [
    ("The answer is (C).", "C", True),
    ("The answer is (C).", "D", False),
    ("Answer: (C)", "C", False),  # the A of "Answer" comes first
    ("Because 3 * 4 = 12, the answer is C", "C", False),  # the B of "Because"
    ("the answer is (e)", "E", False),  # lower case does not match
    ("", "A", False),
    ("The rate is 23.65, so (A)", "A", True),
]


@pytest.mark.parametrize(("dataset", "response", "gold", "expected"), COMMONSENSE_CASES)
def test_commonsense_first_label(dataset, response, gold, expected):
    assert is_correct(dataset, response, gold) is expected


@pytest.mark.parametrize(("dataset", "response", "gold", "expected"), MATH_CASES)
def test_math_last_number(dataset, response, gold, expected):
    assert is_correct(dataset, response, gold) is expected


@pytest.mark.parametrize(("response", "gold", "expected"), AQUA_CASES)
def test_aqua_first_letter(response, gold, expected):
    assert is_correct("AQuA", response, gold) is expected


def test_number_tolerance_includes_its_bound():
    # LLM-Adapters' evaluate.py: abs(label - predict) <= miss. A tolerance of 0.25 makes the bound exact in
    # binary floating point.
    rule = NumberRule(tolerance=0.25)
    assert rule.matches(2.25, 2.0) and rule.matches(1.75, 2.0)
    assert not rule.matches(2.2500001, 2.0)


def test_predictions_are_reported():
    assert score("boolq", "the correct answer is false", "true").prediction == "false"
    assert score("gsm8k", "The answer is 1,234.", "1234").prediction == 1234.0
    assert score("gsm8k", "no digits", "1").prediction is None
    assert score("AQuA", "so (B)", "B").prediction == "B"


def test_response_is_cut_after_the_marker():
    prompt = "### Instruction:\nIs water wet?\n\n### Response:\n"
    assert extract_response(prompt + "  the correct answer is true \n") == "the correct answer is true"
    assert extract_response("no marker here ") == "no marker here"
    # The instruction mentions a label; only the response may be scored.
    tricky_prompt = "### Instruction:\nAnswer true or false.\n\n### Response:\n"
    assert is_correct("boolq", "I cannot say", "true", prompt=tricky_prompt) is False


def test_repeated_marker_segments_follow_the_reference_scripts():
    prompt = "### Instruction:\nq\n\n### Response:\n"
    # Math (LLM-Adapters evaluate.py): the text between the first and second marker.
    math_completion = "The answer is 5.\n\n### Instruction:\nmore\n\n### Response:\nThe answer is 7."
    assert is_correct("gsm8k", math_completion, "5", prompt=prompt)
    assert not is_correct("gsm8k", math_completion, "7", prompt=prompt)
    # Commonsense (the authors' commonsense_evaluate.py): the text after the last marker.
    sense_completion = "the correct answer is true\n### Response:\nthe correct answer is false"
    assert is_correct("boolq", sense_completion, "false", prompt=prompt)
    assert not is_correct("boolq", sense_completion, "true", prompt=prompt)


def test_registry_covers_the_paper_tasks_with_their_budgets():
    for name in COMMONSENSE_DATASETS:
        assert get_task(name).family == "commonsense"
        assert get_task(name).max_new_tokens == 32
    for name in MATH_DATASETS:
        assert get_task(name).family == "math"
        assert get_task(name).max_new_tokens == 256
    assert get_task("aqua").name == "AQuA"  # the reference lower-cases dataset names


def test_unknown_dataset_error_lists_known_names_and_the_fix():
    with pytest.raises(UnknownTaskError) as caught:
        is_correct("my_quiz", "true", "true")
    message = str(caught.value)
    assert "boolq" in message and "gsm8k" in message
    assert "my_quiz:boolq" in message and "register_task" in message
    assert isinstance(caught.value, ValueError)


def test_new_datasets_follow_a_known_rule_without_code():
    name, task = resolve_task("my_quiz:piqa")
    assert name == "my_quiz" and task.rule == get_task("piqa").rule
    assert resolve_task("numbers", ["3", "4.5", -2])[1].rule == get_task("gsm8k").rule
    assert resolve_task("yes_no", ["true", "false"])[1].rule == get_task("boolq").rule
    assert resolve_task("letters", ["A", "E"])[1].rule == get_task("AQuA").rule
    assert resolve_task("choices", ["answer1", "answer4"])[1].family == "commonsense"
    with pytest.raises(UnknownTaskError):
        infer_task("mixed", ["true", "answer2"])
    with pytest.raises(UnknownTaskError):
        infer_task("empty", [])


def test_register_task_like_a_known_one():
    task = register_task("registered_for_test", like="winogrande")
    try:
        assert "registered_for_test" in known_tasks()
        assert is_correct("registered_for_test", "the correct answer is option1", "option1")
        with pytest.raises(ValueError, match="already registered"):
            register_task("registered_for_test", like="boolq")
    finally:
        from denselora.tasks import registry

        registry._REGISTRY.pop(task.name)


def test_invalid_gold_answers_are_rejected():
    with pytest.raises(ValueError):
        is_correct("boolq", "true", "yes")
    with pytest.raises(ValueError):
        is_correct("gsm8k", "4", "four")
    with pytest.raises(ValueError):
        is_correct("AQuA", "A", "F")
    for not_a_number in (True, "inf", "nan", None):  # bool is an int subclass; inf and nan match nothing
        with pytest.raises(ValueError):
            is_correct("gsm8k", "1", not_a_number)
