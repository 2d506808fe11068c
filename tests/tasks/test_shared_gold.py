"""The real LLM-Adapters test sets score as they should under the answer rules."""

from __future__ import annotations

import json

import pytest

from denselora.tasks import get_task, is_correct
from tests.data.conftest import SHARED_COMMONSENSE, SHARED_MATH


def _records(shared_data, name):
    return json.loads(shared_data.test_set(name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", SHARED_COMMONSENSE)
def test_every_gold_output_scores(shared_data, name):
    records = _records(shared_data, name)
    wrong = [i for i, r in enumerate(records) if not is_correct(name, r["output"], r["answer"])]
    assert records and not wrong, f"{name}: records {wrong[:5]} score wrong"


@pytest.mark.parametrize("name", SHARED_MATH)
def test_gold_answers_stated_as_in_training_score(shared_data, name):
    # The math sets' `output` fields are generated rationales (some end with a wrong number), so the gold is
    # the `answer` field; state it the way the training outputs end ("The answer is 576." / "(D).").
    records = _records(shared_data, name)
    if get_task(name).rule.name.startswith("first of"):  # AQuA: "\nRationale: ... The answer is (D)."
        responses = ["\nRationale: it is that one. The answer is ({}).".format(r["answer"]) for r in records]
    else:  # "\nA: ... The answer is 576."
        responses = ["\nA: so it is {0} in all. The answer is {0}.".format(r["answer"]) for r in records]
    wrong = [
        i
        for i, (r, response) in enumerate(zip(records, responses, strict=True))
        if not is_correct(name, response, r["answer"])
    ]
    assert records and not wrong, f"{name}: records {wrong[:5]} score wrong"
