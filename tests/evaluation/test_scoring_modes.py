"""``scoring``: generation, likelihood or both, through the evaluator's files, tables and metrics."""

from __future__ import annotations

import json

import pytest

from denselora.data import LLMAdaptersDataModule
from denselora.errors import ConfigError, DataError
from denselora.evaluation import Evaluator, evaluate
from denselora.evaluation.likelihood import choose, option_loglikelihoods
from denselora.evaluation.results import interval95

GENERATION_FIELDS = {"completion", "prediction", "correct"}
LIKELIHOOD_FIELDS = {"gold_index", "loglikelihoods", "choice", "choice_norm", "correct_choice", "correct_choice_norm"}


def _eval_sets(root, cache, names, limit=6):
    dm = LLMAdaptersDataModule(str(root), eval_datasets=names, eval_limit=limit, cache_dir=cache)
    dm.setup("test")
    return dm.eval_sets


@pytest.fixture(scope="module")
def choice_sets(quickstart_root, datasets_cache):
    return _eval_sets(quickstart_root, datasets_cache, ["synth_boolq", "synth_choice"])


def test_likelihood_scores_each_item_as_the_scorer_does(tiny_model, tiny_tokenizer, choice_sets, tmp_path):
    printed = []
    result = evaluate(
        tiny_model, tiny_tokenizer, choice_sets, tmp_path, batch_size=4, scoring="likelihood", print_fn=printed.append
    )
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["scoring"] == "likelihood" and "mean_accuracy" not in summary
    # Nothing generated, so no generation fields (no NaN in the JSON).
    assert all("accuracy" not in entry and "NaN" not in json.dumps(entry) for entry in summary["datasets"].values())
    for eval_set in choice_sets:
        lines = (tmp_path / "predictions" / f"{eval_set.name}.jsonl").read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        assert [row["index"] for row in rows] == list(range(6))
        assert all(set(row) == {"index", "instruction", "gold"} | LIKELIHOOD_FIELDS for row in rows)
        prompts = eval_set.likelihood_prompts()
        for row in rows:
            item = eval_set.choices[row["index"]]
            # The prompt is the question without its listed options, in the set's template.
            assert "Answer format" not in prompts[row["index"]] and item.instruction in prompts[row["index"]]
            expected = option_loglikelihoods(tiny_model, tiny_tokenizer, [prompts[row["index"]]], [item.choices])[0]
            assert row["loglikelihoods"] == pytest.approx(expected, abs=1e-4)
            picked = choose(expected, item.choices)
            assert (row["choice"], row["choice_norm"]) == (picked.choice, picked.choice_norm)
            assert row["gold_index"] == item.gold
            assert row["correct_choice"] == (picked.choice == item.gold)
        entry = summary["datasets"][eval_set.name]["likelihood"]
        correct = sum(row["correct_choice"] for row in rows)
        assert entry["correct"] == correct and entry["acc"] == pytest.approx(correct / 6)
        assert entry["correct_norm"] == sum(row["correct_choice_norm"] for row in rows)
        assert entry["acc_interval"] == pytest.approx(interval95(correct, 6))
        assert entry["items_per_second"] > 0
    assert summary["mean_acc"] == pytest.approx(result.mean_acc)
    table = (tmp_path / "results.md").read_text()
    assert printed == [table.rstrip("\n")]
    assert "| dataset (likelihood) | acc (%) | acc_norm (%)" in table and "accuracy (%)" not in table
    metrics = result.metrics("test")
    assert set(metrics) == {
        "test/synth_boolq/acc", "test/synth_boolq/acc_norm", "test/synth_choice/acc", "test/synth_choice/acc_norm",
        "test/mean_acc", "test/mean_acc_norm", "test/likelihood_items_per_second",
    }  # fmt: skip


def test_both_generates_and_scores_every_set_that_can_be(tiny_model, tiny_tokenizer, quickstart_root, datasets_cache,
                                                         tmp_path):  # fmt: skip
    sets = _eval_sets(quickstart_root, datasets_cache, ["synth_choice", "synth_math"], limit=4)
    result = evaluate(tiny_model, tiny_tokenizer, sets, tmp_path, batch_size=4, max_new_tokens=4, scoring="both",
                      print_fn=None)  # fmt: skip
    choice, math_set = result.datasets
    assert choice.generated and choice.likelihood is not None
    assert math_set.generated and math_set.likelihood is None  # a math set lists no options
    rows = [json.loads(line) for line in (tmp_path / "predictions" / "synth_choice.jsonl").read_text().splitlines()]
    assert all(set(row) >= GENERATION_FIELDS | LIKELIHOOD_FIELDS for row in rows)
    table = (tmp_path / "results.md").read_text()
    assert "| synth_math |" in table.split("\n\n")[0] and "| synth_math |" not in table.split("\n\n")[1]
    metrics = result.metrics()
    assert "test/synth_choice/accuracy" in metrics and "test/synth_choice/acc_norm" in metrics
    assert "test/synth_math/acc" not in metrics


def test_likelihood_refuses_a_set_without_options(tiny_tokenizer, quickstart_root, datasets_cache):
    sets = _eval_sets(quickstart_root, datasets_cache, ["synth_math"], limit=2)
    with pytest.raises(DataError, match=r"'synth_math' cannot be scored by likelihood: record 0 .* lists no options"):
        Evaluator(sets, tiny_tokenizer, scoring="likelihood")
    with pytest.raises(ConfigError, match="scoring must be one of"):
        Evaluator(sets, tiny_tokenizer, scoring="perplexity")


def _write_set(root, name, records):
    folder = root / "dataset" / name
    folder.mkdir(parents=True)
    (folder / "test.json").write_text(json.dumps(records))


def test_records_of_ones_own_with_choices_and_gold(tiny_model, tiny_tokenizer, tmp_path, datasets_cache):
    records = [
        {"instruction": "The sky on a clear day is", "choices": ["blue", "green", "made of cheese"], "gold": 0},
        {"instruction": "Two plus two is", "choices": ["four", "five"], "gold": 0},
    ]
    _write_set(tmp_path, "mine", records)
    sets = _eval_sets(tmp_path, datasets_cache, ["mine"])
    assert sets[0].task is None and [item.choices for item in sets[0].choices] == [
        ("blue", "green", "made of cheese"),
        ("four", "five"),
    ]
    result = evaluate(tiny_model, tiny_tokenizer, sets, None, scoring="likelihood", print_fn=None)
    assert result.datasets[0].likelihood.scored == 2
    # Without gold answers there is nothing to read a generated response against.
    with pytest.raises(DataError, match=r"no gold 'answer'.*scoring likelihood"):
        Evaluator(sets, tiny_tokenizer, scoring="generate")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"instruction": "Q", "choices": ["a", "b"]}, r"record 0: it has 'choices' but no 'gold'"),
        ({"instruction": "Q", "choices": ["a", "b"], "gold": 5}, r"record 0: 'gold' must be an index"),
        ({"instruction": "Q", "output": "x"}, r"no field 'answer'.*'choices'"),
    ],
)
def test_bad_choices_are_named(tmp_path, datasets_cache, tiny_tokenizer, record, message):
    _write_set(tmp_path, "bad", [record])
    dm = LLMAdaptersDataModule(str(tmp_path), eval_datasets=["bad"], cache_dir=datasets_cache)
    with pytest.raises(DataError, match=message):
        dm.setup("test")
