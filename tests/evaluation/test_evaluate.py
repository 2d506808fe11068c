"""End-to-end evaluation: files, accuracy, crash safety, exact-once scoring."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from denselora.data import LLMAdaptersDataModule, eval_dataloader
from denselora.evaluation import Evaluator, evaluate
from denselora.tasks import is_correct

JSONL_FIELDS = {"index", "instruction", "completion", "prediction", "gold", "correct"}


@pytest.fixture(scope="module")
def eval_sets(quickstart_root, datasets_cache):
    dm = LLMAdaptersDataModule(
        str(quickstart_root),
        eval_datasets=["synth_boolq", "synth_math"],
        eval_limit=6,
        cache_dir=datasets_cache,
    )
    dm.setup("test")
    return dm.eval_sets


@pytest.mark.parametrize("num_beams", [1, 4])
def test_tiny_model_writes_table_json_and_jsonl(tiny_model, tiny_tokenizer, eval_sets, tmp_path, num_beams):
    printed = []
    result = evaluate(
        tiny_model, tiny_tokenizer, eval_sets, tmp_path, batch_size=4, num_beams=num_beams,
        max_new_tokens=8, print_fn=printed.append,
    )  # fmt: skip
    summary = json.loads((tmp_path / "results.json").read_text())
    assert set(summary["datasets"]) == {"synth_boolq", "synth_math"}
    assert summary["num_beams"] == num_beams
    for name, entry in summary["datasets"].items():
        lines = [json.loads(line) for line in (tmp_path / "predictions" / f"{name}.jsonl").read_text().splitlines()]
        assert [line["index"] for line in lines] == list(range(6))  # every item once, in file order
        assert all(set(line) == JSONL_FIELDS for line in lines)
        eval_set = next(s for s in eval_sets if s.name == name)
        assert [line["gold"] for line in lines] == eval_set.answers
        assert [line["instruction"] for line in lines] == eval_set.instructions
        for line, prompt in zip(lines, eval_set.prompts, strict=True):
            assert line["correct"] == is_correct(name, line["completion"], line["gold"], prompt=prompt)
        assert entry["correct"] == sum(line["correct"] for line in lines)
        assert entry["accuracy"] == pytest.approx(entry["correct"] / 6)
        assert entry["scored"] == entry["total"] == 6 and entry["items_per_second"] > 0
        assert entry["answered"] == sum(line["prediction"] is not None for line in lines)
    assert summary["mean_accuracy"] == pytest.approx(result.mean_accuracy)
    table = (tmp_path / "results.md").read_text()
    assert printed == [table.rstrip("\n")]
    assert "| synth_boolq |" in table and "| synth_math |" in table and "**mean**" in table
    assert not list((tmp_path / "predictions").glob("*.partial.jsonl"))


class ScriptedModel(nn.Module):
    """Answers every prompt with a fixed text; optionally fails on a chosen call."""

    def __init__(self, tokenizer, answer: str, fail_on_call: int | None = None):
        super().__init__()
        self.embed = nn.Embedding(len(tokenizer), 4)
        self.answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        self.fail_on_call = fail_on_call
        self.calls = 0

    def get_input_embeddings(self):
        return self.embed

    def generate(self, input_ids, attention_mask, generation_config):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise RuntimeError("device lost")
        answer = torch.tensor(self.answer_ids).expand(input_ids.shape[0], -1)
        return torch.cat([input_ids, answer], dim=1)


def test_accuracy_and_unweighted_mean(tiny_tokenizer, eval_sets, tmp_path):
    # "true" is right exactly on the even counts; no number is ever right on the math set.
    model = ScriptedModel(tiny_tokenizer, "the correct answer is true")
    result = evaluate(model, tiny_tokenizer, eval_sets, tmp_path, batch_size=4, print_fn=None)
    boolq, math = result.datasets
    expected = sum(answer == "true" for answer in eval_sets[0].answers) / len(eval_sets[0])
    assert boolq.accuracy == pytest.approx(expected)
    assert math.accuracy == 0.0
    assert result.mean_accuracy == pytest.approx(expected / 2)
    assert result.metrics("test")["test/synth_boolq/accuracy"] == pytest.approx(expected)


def test_a_crash_keeps_what_was_scored(tiny_tokenizer, eval_sets, tmp_path):
    # Batches of 4 over 6 items: calls 1-2 finish synth_boolq, call 3 scores part of synth_math, call 4 fails.
    model = ScriptedModel(tiny_tokenizer, "the correct answer is false", fail_on_call=4)
    with pytest.raises(RuntimeError, match="device lost"):
        evaluate(model, tiny_tokenizer, eval_sets, tmp_path, batch_size=4, print_fn=None)
    finished = (tmp_path / "predictions" / "synth_boolq.jsonl").read_text().splitlines()
    assert len(finished) == 6
    partial = (tmp_path / "predictions" / "synth_math.rank0.partial.jsonl").read_text().splitlines()
    assert len(partial) == 4
    assert not (tmp_path / "results.json").exists()


def test_ranks_split_the_items_without_overlap(tiny_tokenizer, eval_sets):
    # The sharding that DDP uses, run here as two ranks in one process.
    model = ScriptedModel(tiny_tokenizer, "the correct answer is true")
    scored = {0: [], 1: []}
    for rank in (0, 1):
        evaluator = Evaluator(eval_sets, tiny_tokenizer, rank=rank, world_size=2, print_fn=None)
        for dataset_idx, eval_set in enumerate(eval_sets):
            for batch in eval_dataloader(eval_set, tiny_tokenizer.pad_token_id, 2, rank=rank, world_size=2):
                scored[rank] += [(eval_set.name, item.index) for item in evaluator.step(model, batch, dataset_idx)]
    assert not set(scored[0]) & set(scored[1])
    assert sorted(scored[0] + scored[1]) == sorted((s.name, i) for s in eval_sets for i in range(len(s)))


def test_repeated_items_are_refused(tiny_tokenizer, eval_sets):
    # A padding DistributedSampler hands some items out twice; that must not be averaged in silently.
    model = ScriptedModel(tiny_tokenizer, "the correct answer is true")
    evaluator = Evaluator(eval_sets[:1], tiny_tokenizer, print_fn=None)
    batch = next(iter(eval_dataloader(eval_sets[0], tiny_tokenizer.pad_token_id, 6)))
    evaluator.step(model, batch, 0)
    evaluator.step(model, {key: value[:1] for key, value in batch.items()}, 0)
    with pytest.raises(RuntimeError, match="scored twice"):
        evaluator.finish()


def test_a_set_named_outside_the_output_folder_is_refused_before_generating(tiny_tokenizer, eval_sets, tmp_path):
    from dataclasses import replace

    from denselora.errors import ConfigError

    escaping = replace(eval_sets[0], name="../../escaped")
    with pytest.raises(ConfigError, match=r"eval_datasets: '\.\./\.\./escaped'"):
        Evaluator([escaping], tiny_tokenizer, tmp_path / "out", num_beams=1, print_fn=None)
    assert not list(tmp_path.rglob("*.jsonl"))
