"""Records whose answer truncation cuts off entirely are found when the data is prepared."""

from __future__ import annotations

import json

import pytest

from denselora.data import LLMAdaptersDataModule
from denselora.errors import DataError

LONG = (2, 5, 7, 9, 11)  # records whose prompt alone fills cutoff_len


def _train_file(tmp_path):
    records = [
        {
            "instruction": ("Read this carefully. " * 40 if index in LONG else "") + f"Is {index} even?",
            "input": "",
            "output": f"the correct answer is {'true' if index % 2 == 0 else 'false'}",
        }
        for index in range(16)
    ]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(records))
    return path


def _module(tmp_path, datasets_cache, **kwargs):
    return LLMAdaptersDataModule(
        str(tmp_path), train_file=str(_train_file(tmp_path)), train_on_inputs=False, cutoff_len=64,
        val_size=5, seed=0, cache_dir=datasets_cache, **kwargs,
    )  # fmt: skip


def test_records_without_an_answer_token_are_dropped_and_named(tmp_path, datasets_cache):
    dm = _module(tmp_path, datasets_cache)
    with pytest.warns(UserWarning) as caught:
        dm.setup("fit")
    messages = [str(w.message) for w in caught if "no answer token left" in str(w.message)]
    assert len(messages) == 2, messages  # one line for training, one for validation
    assert messages[0].startswith("training data: ") and messages[1].startswith("validation data: ")
    named = {int(n) for m in messages for n in m.split("(records ")[1].split(" of")[0].split(", ")}
    assert named == set(LONG)
    assert all("cutoff_len=64" in m and "truncated_answers: drop" in m for m in messages)
    assert len(dm.train_dataset) + len(dm.val_dataset) == 16 - len(LONG)
    for dataset in (dm.train_dataset, dm.val_dataset):
        for labels in dataset["labels"]:
            assert any(label != -100 for label in labels[1:])  # every example has something to learn


def test_records_without_an_answer_token_can_be_refused(tmp_path, datasets_cache):
    dm = _module(tmp_path, datasets_cache, truncated_answers="error")
    with pytest.raises(DataError) as caught:
        dm.setup("fit")
    message = str(caught.value)
    assert "no answer token left after truncation to cutoff_len=64" in message
    assert "raise data.init_args.cutoff_len" in message and "truncated_answers: drop" in message


def test_the_setting_is_checked(tmp_path):
    with pytest.raises(DataError, match="truncated_answers must be one of drop, error"):
        LLMAdaptersDataModule(str(tmp_path), truncated_answers="keep")


def test_nothing_changes_when_every_answer_fits(tmp_path, datasets_cache):
    dm = _module(tmp_path, datasets_cache, truncated_answers="error")
    dm.cutoff_len = 4096
    dm.setup("fit")
    assert len(dm.train_dataset) + len(dm.val_dataset) == 16
