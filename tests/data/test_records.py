"""Bad data files give one error naming the file, the record and the fix."""

from __future__ import annotations

import json

import pytest

from denselora.data import load_json_dataset
from denselora.errors import DataError, MissingDataError

GOOD = {
    "instruction": "Is the sky blue?",
    "input": "",
    "output": "the correct answer is true",
    "answer": "true",
}
FIELDS = ("instruction", "output", "answer")


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _load(path, cache):
    return load_json_dataset(path, FIELDS, cache_dir=cache)


def test_valid_list_and_json_lines(tmp_path, datasets_cache):
    records = [GOOD, {**GOOD, "answer": "false"}, {k: v for k, v in GOOD.items() if k != "input"}]
    listed = _load(_write(tmp_path, "list.json", json.dumps(records)), datasets_cache)
    lines = _load(_write(tmp_path, "lines.jsonl", "\n".join(json.dumps(r) for r in records)), datasets_cache)
    for dataset in (listed, lines):
        assert len(dataset) == 3
        assert dataset["answer"][:2] == ["true", "false"]


BAD_FILES = {
    "truncated": (json.dumps([GOOD, GOOD, GOOD])[:-40], r"record 2 .*not valid JSON.*truncated"),
    "empty": ("", "is empty"),
    "missing-field": (
        json.dumps([GOOD, {k: v for k, v in GOOD.items() if k != "output"}]),
        r"record 1 has no 'output'",
    ),
    "null-field": (json.dumps([GOOD, GOOD, {**GOOD, "instruction": None}]), r"record 2 has no 'instruction'"),
    "wrong-type": (
        json.dumps([GOOD, {**GOOD, "instruction": 7}]),
        r"record 1 has 7 \(int\) as 'instruction'",
    ),
    "list-answer": (
        json.dumps([GOOD, {**GOOD, "answer": ["true"]}]),
        r"record 1 .*'answer'.*string or a number",
    ),
    "not-a-list": (json.dumps({"instruction": "x"}), r"record 0 has no field 'output'"),
    "not-json": ("instruction,output\nx,y\n", "not JSON"),
    "unclosed-list": (json.dumps([GOOD])[:-1], r"ends after record 0"),
    "bad-json-line": (json.dumps(GOOD) + '\n{"instruction": \n', r"record 1 \(line 2\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_name_the_file_and_record(tmp_path, datasets_cache, case):
    text, pattern = BAD_FILES[case]
    path = _write(tmp_path, f"{case}.json", text)
    with pytest.raises(DataError, match=pattern) as caught:
        _load(path, datasets_cache)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_mixed_answer_types_keep_their_written_value(tmp_path, datasets_cache):
    # datasets stores a mixed column as JSON and would turn the string "true" into True.
    path = _write(tmp_path, "mixed.json", json.dumps([GOOD, {**GOOD, "answer": 12}, {**GOOD, "answer": 0.5}]))
    assert list(_load(path, datasets_cache)["answer"]) == ["true", "12", "0.5"]


def test_missing_file_names_the_full_path(tmp_path, datasets_cache):
    with pytest.raises(MissingDataError) as caught:
        load_json_dataset(tmp_path / "sub" / "math_10k.json", FIELDS, missing_hint="Download it.")
    message = str(caught.value)
    assert str((tmp_path / "sub" / "math_10k.json").resolve()) in message
    assert "Download it." in message
    assert isinstance(caught.value, DataError) and isinstance(caught.value, FileNotFoundError)
