"""The synthetic quickstart data set."""

from __future__ import annotations

import json

from denselora.quickstart import QUICKSTART_EVAL_DATASETS, QUICKSTART_TRAIN_FILE, write_quickstart_data
from denselora.tasks import is_correct


def _files(root):
    names = [f"dataset/{name}/test.json" for name in QUICKSTART_EVAL_DATASETS] + [QUICKSTART_TRAIN_FILE]
    return {name: (root / name).read_bytes() for name in names}


def test_layout_sizes_and_determinism(tmp_path):
    first = write_quickstart_data(tmp_path / "a", seed=3, train_size=90, test_size=10)
    again = write_quickstart_data(tmp_path / "b", seed=3, train_size=90, test_size=10)
    other = write_quickstart_data(tmp_path / "c", seed=4, train_size=90, test_size=10)
    assert first == tmp_path / "a"
    assert _files(first) == _files(again)
    assert _files(first) != _files(other)
    train = json.loads((first / QUICKSTART_TRAIN_FILE).read_text())
    assert len(train) == 90
    for name in QUICKSTART_EVAL_DATASETS:
        test = json.loads((first / "dataset" / name / "test.json").read_text())
        assert len(test) == 10
        assert all(set(record) == {"instruction", "input", "output", "answer"} for record in test)


def test_gold_outputs_score_and_follow_the_real_phrasing(quickstart_root):
    for name in QUICKSTART_EVAL_DATASETS:
        records = json.loads((quickstart_root / "dataset" / name / "test.json").read_text())
        assert all(is_correct(name, record["output"], record["answer"]) for record in records)
        if name == "synth_math":
            assert all(record["output"].startswith("\nA: ") for record in records)
        else:
            assert all(record["output"] == f"the correct answer is {record['answer']}" for record in records)
        # Both classes / all positions occur, so that a constant answer cannot score well.
        assert len({record["answer"] for record in records}) > 1


def test_no_test_instruction_is_trained_on(quickstart_root):
    train = {record["instruction"] for record in json.loads((quickstart_root / QUICKSTART_TRAIN_FILE).read_text())}
    for name in QUICKSTART_EVAL_DATASETS:
        test = json.loads((quickstart_root / "dataset" / name / "test.json").read_text())
        assert not train & {record["instruction"] for record in test}
