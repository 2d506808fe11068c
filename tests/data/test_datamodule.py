"""The data modules over the real LLM-Adapters folder and over the synthetic set."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from denselora.data import (
    CommonsenseDataModule,
    LLMAdaptersDataModule,
    MathDataModule,
    ShardedLengthSortedSampler,
)
from denselora.data.tokenization import text_budget
from denselora.errors import ConfigError, DataError, MissingDataError
from denselora.quickstart import QUICKSTART_EVAL_DATASETS, QUICKSTART_TRAIN_FILE
from denselora.tasks import UnknownTaskError, get_task


def _module(data_dir, cache, **kwargs):
    return LLMAdaptersDataModule(str(data_dir), cache_dir=cache, **kwargs)


def test_real_training_batches_are_correctly_masked(shared_data, datasets_cache):
    dm = _module(
        shared_data.root, datasets_cache, train_file="dataset/boolq/train.json", train_on_inputs=False,
        template="authors", micro_batch_size=4, eval_batch_size=8,
    )  # fmt: skip
    dm.setup("fit")
    pad, eos = dm.tokenizer.pad_token_id, dm.tokenizer.eos_token_id
    assert len(dm.val_dataset) == 120
    for batch_idx, batch in zip(range(5), dm.train_dataloader(), strict=False):
        ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
        assert ids.shape == mask.shape == labels.shape and ids.shape[0] == 4
        assert ids.shape[1] % 8 == 0  # padded to a multiple of 8 like the reference collator
        lengths = mask.sum(1)
        for row in range(ids.shape[0]):
            n = int(lengths[row])
            assert mask[row, :n].all() and not mask[row, n:].any()  # right padding
            assert (ids[row, n:] == pad).all() and (labels[row, n:] == -100).all()
            assert ids[row, 0] == dm.tokenizer.bos_token_id and ids[row, n - 1] == eos
            kept = labels[row, :n][labels[row, :n] != -100]
            assert labels[row, 0] == -100 and kept[-1] == eos  # prompt masked, answer + EOS learned
            answer = dm.tokenizer.decode(kept, skip_special_tokens=True).strip()
            assert answer.endswith(("true", "false")), (batch_idx, answer)
    val = next(iter(dm.val_dataloader()))
    assert val["input_ids"].shape[0] == 8 and "labels" in val


def test_real_math_training_file(shared_data, datasets_cache):
    dm = MathDataModule(
        str(shared_data.root),
        train_file="ft-training_set/math_data.json",
        eval_datasets=["gsm8k", "AQuA"],  # fitting checks that the test sets exist; SingleEq and mawps are not here
        cache_dir=datasets_cache,
    )
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert (batch["labels"] == batch["input_ids"]).logical_or(batch["attention_mask"] == 0).all()  # all tokens
    assert int(batch["attention_mask"].sum(1).max()) <= 256


def _train_instructions(data_dir, cache, **kwargs):
    dm = _module(data_dir, cache, train_file=QUICKSTART_TRAIN_FILE, **kwargs)
    train, validation = dm.split_train_records(dm.load_train_records())
    return list(train["instruction"]), list(validation["instruction"])


def test_fraction_is_reproducible_from_the_seed(quickstart_root, datasets_cache):
    first, val_first = _train_instructions(quickstart_root, datasets_cache, train_fraction=0.1, seed=1)
    again, _ = _train_instructions(quickstart_root, datasets_cache, train_fraction=0.1, seed=1)
    other, _ = _train_instructions(quickstart_root, datasets_cache, train_fraction=0.1, seed=2)
    full, val_full = _train_instructions(quickstart_root, datasets_cache, train_fraction=1.0, seed=1)
    assert first == again
    assert first != other
    assert len(first) == round(0.1 * len(full))
    assert set(first) <= set(full)
    assert val_first == val_full  # the validation records do not depend on the fraction
    # quickstart_root's 600 records repeat a few exactly; a validation record's copies are not trained on, so
    # the split is disjoint and covers every distinct record.
    records = json.loads((quickstart_root / QUICKSTART_TRAIN_FILE).read_text())
    assert not set(val_full) & set(full)
    assert set(val_full) | set(full) == {record["instruction"] for record in records}


def test_fraction_is_reproducible_on_real_data(shared_data, datasets_cache):
    kwargs = dict(train_file="dataset/openbookqa/train.json", train_fraction=0.25)
    a = _module(shared_data.root, datasets_cache, seed=7, **kwargs)
    b = _module(shared_data.root, datasets_cache, seed=7, **kwargs)
    c = _module(shared_data.root, datasets_cache, seed=8, **kwargs)
    pick = [list(m.split_train_records(m.load_train_records())[0]["instruction"]) for m in (a, b, c)]
    assert pick[0] == pick[1] and pick[0] != pick[2]


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_fraction_must_be_in_zero_one(fraction, quickstart_root):
    with pytest.raises(DataError, match="train_fraction"):
        LLMAdaptersDataModule(str(quickstart_root), train_fraction=fraction)


def test_other_arguments_are_checked(quickstart_root):
    with pytest.raises(DataError, match="template"):
        LLMAdaptersDataModule(str(quickstart_root), template="chatml")
    with pytest.raises(DataError, match="cutoff_len"):
        LLMAdaptersDataModule(str(quickstart_root), cutoff_len=0)


def test_missing_training_files_name_the_path(shared_data, datasets_cache):
    for module, file_name in (
        (CommonsenseDataModule, "commonsense_170k.json"),
        (MathDataModule, "math_10k.json"),
    ):
        dm = module(str(shared_data.root), cache_dir=datasets_cache)
        with pytest.raises(MissingDataError) as caught:
            dm.setup("fit")
        expected = (shared_data.root / "ft-training_set" / file_name).resolve()
        assert str(expected) in str(caught.value) and "train_file" in str(caught.value)
        group = file_name.split("_")[0]
        command = f"python -m denselora data download --data-dir {shared_data.root.resolve()} --sets {group}"
        assert f"`{command} --training paper` fetches it" in str(caught.value)


def test_a_missing_split_of_one_set_says_where_llm_adapters_keeps_it(tmp_path, datasets_cache):
    dm = LLMAdaptersDataModule(str(tmp_path), train_file="dataset/hellaswag/train.json", cache_dir=datasets_cache)
    with pytest.raises(MissingDataError) as caught:
        dm.setup("fit")
    message = str(caught.value)
    assert str(tmp_path / "dataset" / "hellaswag" / "train.json") in message
    assert "at dataset/hellaswag/train.json" in message and "commonsense_170k" not in message
    command = f"python -m denselora data download --data-dir {tmp_path.resolve()} --sets hellaswag --training splits"
    assert f"`{command}` fetches it" in message


def test_a_missing_split_that_llm_adapters_lacks_is_not_offered_for_download(tmp_path, datasets_cache):
    dm = LLMAdaptersDataModule(str(tmp_path), train_file="dataset/gsm8k/train.json", cache_dir=datasets_cache)
    with pytest.raises(MissingDataError) as caught:
        dm.setup("fit")
    assert "copy that folder under data_dir" in str(caught.value) and "data download" not in str(caught.value)


def test_missing_test_sets_name_the_command_that_fetches_those_it_can(tmp_path, datasets_cache):
    fetch = f"python -m denselora data download --data-dir {tmp_path.resolve()} --sets"
    for names, expected in (
        (["boolq", "ARC-Easy"], f"`{fetch} boolq ARC-Easy --training none` fetches them, or remove"),
        (["boolq", "mine"], f"`{fetch} boolq --training none` fetches boolq; copy the other dataset/<name>/ folders"),
        (["mine"], "Copy the dataset/<name>/ folders there, or remove"),
    ):
        dm = LLMAdaptersDataModule(str(tmp_path), eval_datasets=names, cache_dir=datasets_cache)
        with pytest.raises(MissingDataError, match=r"test set\(s\) named in eval_datasets not found") as caught:
            dm.check_eval_files()
        assert expected in str(caught.value)


def test_missing_test_set_names_the_path(shared_data, datasets_cache):
    dm = CommonsenseDataModule(str(shared_data.root), cache_dir=datasets_cache, eval_limit=2)
    with pytest.raises(MissingDataError) as caught:
        dm.setup("test")
    assert str((shared_data.root / "dataset" / "hellaswag" / "test.json").resolve()) in str(caught.value)
    message = str(caught.value)
    assert "eval_datasets" in message and "--sets hellaswag --training none` fetches it" in message


def test_real_eval_loaders_cover_each_item_once_longest_first(shared_data, datasets_cache):
    dm = _module(shared_data.root, datasets_cache, eval_datasets=["piqa", "AQuA"], eval_limit=50, eval_batch_size=16)
    dm.setup("test")
    assert [s.name for s in dm.eval_sets] == ["piqa", "AQuA"]
    assert dm.eval_sets[1].task is get_task("AQuA")
    for eval_set, loader in zip(dm.eval_sets, dm.test_dataloader(), strict=True):
        assert isinstance(loader.sampler, ShardedLengthSortedSampler)
        seen, lengths = [], []
        for batch in loader:
            mask = batch["attention_mask"]
            assert mask[:, -1].all()  # left padding: every prompt ends at the last column
            lengths += mask.sum(1).tolist()
            seen += batch["index"].tolist()
        assert sorted(seen) == list(range(len(eval_set))) == list(range(50))
        assert lengths == sorted(lengths, reverse=True)


def test_new_dataset_folders_need_no_code(quickstart_root, tmp_path, datasets_cache):
    root = tmp_path / "tree"
    shutil.copytree(quickstart_root, root)
    shutil.copytree(root / "dataset" / "synth_math", root / "dataset" / "word_problems")
    shutil.copytree(root / "dataset" / "synth_boolq", root / "dataset" / "parity")
    dm = _module(root, datasets_cache, eval_datasets=["word_problems", "parity:boolq"], eval_limit=4)
    dm.setup("test")
    inferred, aliased = dm.eval_sets
    assert inferred.task.rule == get_task("gsm8k").rule and inferred.task.family == "math"
    assert aliased.name == "parity" and aliased.task.rule == get_task("boolq").rule

    (root / "dataset" / "free_text").mkdir()
    (root / "dataset" / "free_text" / "test.json").write_text('[{"instruction": "hi", "answer": "hello"}]')
    with pytest.raises(UnknownTaskError, match="free_text:boolq"):
        _module(root, datasets_cache, eval_datasets=["free_text"]).setup("test")


def test_bad_gold_answer_names_the_record(quickstart_root, tmp_path, datasets_cache):
    (tmp_path / "dataset" / "gsm8k").mkdir(parents=True)
    (tmp_path / "dataset" / "gsm8k" / "test.json").write_text(
        '[{"instruction": "a", "answer": "4"}, {"instruction": "b", "answer": "four"}]'
    )
    with pytest.raises(DataError, match=r"record 1 has an invalid answer"):
        _module(tmp_path, datasets_cache, eval_datasets=["gsm8k"]).setup("test")


def test_tokenized_data_is_cached(quickstart_root, datasets_cache):
    first = _module(quickstart_root, datasets_cache, train_file=QUICKSTART_TRAIN_FILE)
    first.setup("fit")
    second = _module(quickstart_root, datasets_cache, train_file=QUICKSTART_TRAIN_FILE)
    second.setup("fit")
    files = [entry["filename"] for entry in first.train_dataset.cache_files]
    assert files and files == [entry["filename"] for entry in second.train_dataset.cache_files]
    assert first.train_dataset["input_ids"][:3] == second.train_dataset["input_ids"][:3]


def test_group_by_length_batches(quickstart_root, datasets_cache):
    dm = _module(quickstart_root, datasets_cache, train_file=QUICKSTART_TRAIN_FILE, group_by_length=True)
    dm.setup("fit")
    order = list(dm.train_dataloader().sampler)
    assert sorted(order) == list(range(len(dm.train_dataset)))


def test_fit_and_test_under_a_lightning_trainer(quickstart_root, datasets_cache, tmp_path):
    import lightning as L

    from tests.evaluation.conftest import build_model

    class Tiny(L.LightningModule):
        def __init__(self, tokenizer):
            super().__init__()
            self.model = build_model(tokenizer).train()

        def training_step(self, batch, batch_idx):
            return self.model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).loss

        def validation_step(self, batch, batch_idx):
            self.log(
                "val_loss",
                self.model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).loss,
            )

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-3)

    dm = _module(
        quickstart_root, datasets_cache, train_file=QUICKSTART_TRAIN_FILE,
        eval_datasets=list(QUICKSTART_EVAL_DATASETS), val_size=16,
    )  # fmt: skip
    trainer = L.Trainer(
        max_steps=2, val_check_interval=1, limit_val_batches=1, accelerator="cpu", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(Tiny(dm.tokenizer), datamodule=dm)
    assert trainer.global_step == 2 and "val_loss" in trainer.callback_metrics


def test_command_line_parsing_of_the_signatures(quickstart_root):
    # LightningCLI reads these signatures through jsonargparse; keep them parseable.
    from jsonargparse import ArgumentParser

    for module in (CommonsenseDataModule, MathDataModule, LLMAdaptersDataModule):
        parser = ArgumentParser(exit_on_error=False)
        parser.add_class_arguments(module, "data")
        config = parser.parse_args(
            [
                f"--data.data_dir={quickstart_root}",
                "--data.eval_datasets=[boolq, mine:piqa]",
                "--data.eval_limit=5",
            ]
        )
        data = parser.instantiate_classes(config).data
        assert isinstance(data, module)
        assert data.eval_dataset_names == ["boolq", "mine:piqa"] and data.eval_limit == 5


@pytest.mark.parametrize("entry", ["../../../../../../../tmp/evil", "a/b:boolq", "..", "/tmp/evil"])
def test_eval_set_names_that_leave_dataset_are_refused(quickstart_root, entry):
    with pytest.raises(ConfigError) as caught:
        LLMAdaptersDataModule(str(quickstart_root), eval_datasets=["synth_boolq", entry])
    assert "data.init_args.eval_datasets" in str(caught.value) and repr(entry.split(":")[0]) in str(caught.value)


def test_a_name_with_a_rule_still_reads_its_folder(quickstart_root, tmp_path, datasets_cache):
    shutil.copytree(quickstart_root / "dataset" / "synth_boolq", tmp_path / "dataset" / "my_set")
    dm = _module(tmp_path, datasets_cache, eval_datasets=["my_set:boolq"], eval_limit=3)
    dm.setup("test")
    assert [s.name for s in dm.eval_sets] == ["my_set"] and dm.eval_sets[0].task.rule.name == get_task(
        "boolq"
    ).rule.name


def test_a_huge_record_is_cut_before_it_is_tokenized_and_named(tmp_path, datasets_cache, caplog):
    import logging
    import time

    records = [{"instruction": f"What is {n} + 1?", "input": "", "output": str(n + 1)} for n in range(12)]
    records[7]["instruction"] = "why " * 5_000_000  # 20 MB in one record
    (tmp_path / "train.json").write_text(json.dumps(records))
    dm = LLMAdaptersDataModule(
        str(tmp_path), train_file="train.json", val_size=0, cutoff_len=64, cache_dir=datasets_cache
    )
    started = time.perf_counter()
    with caplog.at_level(logging.INFO):
        dm.setup("fit")
    assert time.perf_counter() - started < 30  # tokenizing the whole record took minutes
    assert sorted(dm.train_dataset["length"])[-1] == 64
    budget = text_budget(dm.tokenizer, 64)
    assert [r.getMessage() for r in caplog.records if "characters" in r.getMessage()] == [
        f"training data: 1 record(s) longer than {budget:,} characters (record 7); only the first {budget:,} "
        "characters of each are tokenized, which hold more than the 64 tokens (cutoff_len) it is trained on"
    ]


def test_the_data_module_reads_with_the_tokenizer_it_is_given(quickstart_root, datasets_cache, tiny_tokenizer):
    dm = LLMAdaptersDataModule(
        str(quickstart_root), train_file=QUICKSTART_TRAIN_FILE, val_size=8, cache_dir=datasets_cache
    )
    assert dm.tokenizer_spec == "denselora/tiny"  # nothing named: the built-in one, until the model's is given
    dm.use_tokenizer("my/tokenizer", tiny_tokenizer)
    assert dm.tokenizer is tiny_tokenizer and dm.hparams["tokenizer"] == "my/tokenizer"
    dm.setup("fit")
    with pytest.raises(DataError, match="tokenized with 'my/tokenizer' already"):
        dm.use_tokenizer("denselora/tiny")
    dm.use_tokenizer("my/tokenizer", tiny_tokenizer)  # the same one again is no change
