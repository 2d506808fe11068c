"""Exact duplicates in the training file are counted, and validation holds no record that is also trained on."""

from __future__ import annotations

import json
import logging

import pytest

from denselora.data import LLMAdaptersDataModule

REPEATED = {3: 3, 8: 2, 15: 1}  # record -> extra copies
COPIES = sum(REPEATED.values())


def _key(record):
    return record["instruction"], record["input"], record["output"]


def _train_file(tmp_path):
    distinct = [{"instruction": f"What is {n} + 1?", "input": "", "output": str(n + 1)} for n in range(20)]
    # Same instruction, another output: not a duplicate.
    distinct.append({"instruction": "What is 3 + 1?", "input": "", "output": "four"})
    records = list(distinct)
    for index, extra in REPEATED.items():
        records += [dict(distinct[index])] * extra
    path = tmp_path / "train.json"
    path.write_text(json.dumps(records))
    return path, records


@pytest.mark.parametrize("seed", range(6))
def test_validation_never_holds_a_training_record(tmp_path, datasets_cache, seed, caplog):
    path, records = _train_file(tmp_path)
    dm = LLMAdaptersDataModule(str(tmp_path), train_file=str(path), val_size=6, seed=seed, cache_dir=datasets_cache)
    loaded = dm.load_train_records()
    plain = loaded.train_test_split(test_size=6, shuffle=True, seed=seed)  # the split without this check
    with caplog.at_level(logging.INFO):
        train, validation = dm.split_train_records(loaded)
    held = [_key(record) for record in validation]
    trained = [_key(record) for record in train]
    assert held == [_key(record) for record in plain["test"]]  # validation is the seeded split's, unchanged
    assert not set(held) & set(trained)
    # Training is the seeded split's training part, in its order, less the copies of validation records.
    assert trained == [_key(r) for r in plain["train"] if _key(r) not in set(held)]
    leaked = len(plain["train"]) - len(trained)
    lines = [r.getMessage() for r in caplog.records if "repeat an earlier record exactly" in r.getMessage()]
    expected = (
        f"training data: {COPIES} of {len(records)} records repeat an earlier record exactly (same instruction, "
        f"input and output); {leaked} copies of validation records left out of training"
    )
    assert lines == [expected]
    again = dm.split_train_records(dm.load_train_records())
    assert [_key(r) for r in again[0]] == trained and [_key(r) for r in again[1]] == held  # seeded


def test_a_copy_across_the_split_leaves_training(tmp_path, datasets_cache):
    path, _ = _train_file(tmp_path)
    leaks = 0
    for seed in range(20):
        dm = LLMAdaptersDataModule(str(tmp_path), train_file=str(path), val_size=6, seed=seed, cache_dir=datasets_cache)
        loaded = dm.load_train_records()
        train, validation = dm.split_train_records(loaded)
        leaks += len(loaded) - len(validation) - len(train)
    assert leaks > 0  # the fixture's copies do straddle the split for some seeds, and those leave training


def test_a_file_without_duplicates_says_nothing(tmp_path, datasets_cache, caplog):
    path, records = _train_file(tmp_path)
    path.write_text(json.dumps(records[:21]))
    dm = LLMAdaptersDataModule(str(tmp_path), train_file=str(path), val_size=6, seed=0, cache_dir=datasets_cache)
    with caplog.at_level(logging.INFO):
        train, validation = dm.split_train_records(dm.load_train_records())
    assert not [r for r in caplog.records if "repeat an earlier record" in r.getMessage()]
    assert len(train) + len(validation) == 21
