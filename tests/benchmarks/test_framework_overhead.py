"""The framework-overhead benchmark runs end to end on the tiny model and reports the work it counted."""

import argparse
import math
from pathlib import Path

import pytest
import torch
import yaml

from benchmarks import framework_overhead
from denselora.models import SMOLLM2_135M_INSTRUCT
from denselora.quickstart import QUICKSTART_EVAL_DATASETS

REPO = Path(__file__).resolve().parents[2]
SETTINGS = dict(model="tiny", steps=4, untimed_steps=1, micro_batch=4, eval_items=5, eval_batch=4)


@pytest.fixture
def one_thread():
    # The tiny model's steps take microseconds: a second thread only adds synchronisation, and on a busy
    # machine its spin-waiting makes the run many times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def table_rows(output: str) -> dict[tuple[str, str], list[str]]:
    """The result table's rows by (measurement, variant), cells stripped; the header and rule skipped."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0].endswith(("tokens/s", "items/s")):
            rows[(cells[0], cells[1])] = cells
    return rows


def test_table_reports_both_measurements_over_the_same_batches(tmp_path, capsys, one_thread):
    data_dir = tmp_path / "data"
    argv = ["--data-dir", str(data_dir), "--rounds", "2", "--max-new-tokens", "4"]
    for name, value in SETTINGS.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    results = framework_overhead.main(argv)
    output = capsys.readouterr().out

    rows = table_rows(output)
    assert list(rows) == [
        ("training tokens/s", "framework"),
        ("training tokens/s", "bare"),
        ("evaluation items/s", "framework"),
        ("evaluation items/s", "bare"),
    ]
    for cells in rows.values():
        median, ratio = float(cells[2]), float(cells[3])
        assert math.isfinite(median) and median > 0
        assert math.isfinite(ratio) and ratio > 0
    assert rows[("training tokens/s", "bare")][3] == rows[("evaluation items/s", "bare")][3] == "1.000"
    for name, comparison in results.items():
        assert math.isfinite(comparison.ratio) and comparison.ratio > 0, name
        assert len(comparison.framework.seconds) == len(comparison.bare.seconds) == 2
        assert min(comparison.framework.seconds + comparison.bare.seconds) > 0

    # What the batches hold, counted here from the data module the script used, not from its timers.
    datamodule = framework_overhead.build_datamodule(argparse.Namespace(**SETTINGS), data_dir)
    train = framework_overhead.take(datamodule.train_dataloader(), SETTINGS["steps"])
    tokens = [int(batch["attention_mask"].sum()) for batch in train[SETTINGS["untimed_steps"] :]]
    prompts = framework_overhead.prompt_batches_of(datamodule)
    items = [len(batch["index"]) for batch in prompts]
    assert sum(items) == len(QUICKSTART_EVAL_DATASETS) * SETTINGS["eval_items"]
    for variant in ("framework", "bare"):
        assert getattr(results["training"], variant).counts == [tokens, tokens]
        assert getattr(results["evaluation"], variant).counts == [items, items]
    assert rows[("training tokens/s", "framework")][5] == f"{sum(tokens)} tokens"
    assert rows[("evaluation items/s", "bare")][5] == f"{sum(items)} items"


def test_settings_are_the_smollm2_recipes():
    recipe = yaml.safe_load((REPO / "lightning_configs" / "smollm2_commonsense.yaml").read_text())
    model, data = recipe["model"]["init_args"], recipe["data"]["init_args"]
    assert model["adapter"]["class_path"] == "denselora.methods.DenseLoRA"
    assert framework_overhead.RECIPE["adapter"] == model["adapter"]["init_args"]
    assert framework_overhead.RECIPE["train_file"] == data["train_file"]
    assert model["pretrained"] == SMOLLM2_135M_INSTRUCT and "tokenizer" not in data  # the base's own tokenizer
    assert recipe["trainer"]["precision"] == "32-true"
    assert framework_overhead.REAL_EVAL_DATASET in data["eval_datasets"]
