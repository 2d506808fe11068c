"""``python -m denselora report``: one markdown row per run, like the paper's Tab. 1."""

import json
import math

import pytest
import yaml

from denselora.__main__ import main
from denselora.cli.report import markdown_table, summarise_run


def _exit_code(args):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code


def test_the_table_of_a_denselora_run_and_a_lora_run(density_runs, tmp_path, capsys):
    runs = [str(density_runs["denselora"]), str(density_runs["lora"])]
    output = tmp_path / "tables" / "table.md"
    assert _exit_code(["report", *runs, "-o", str(output)]) == 0
    printed = capsys.readouterr().out
    lines = printed.strip().splitlines()
    assert output.read_text().strip() == printed.strip()
    assert lines[0] == (
        "| run | method | r | targets | setting | params (%) | synth_boolq | synth_choice | synth_math | avg |"
    )
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [row[:5] for row in cells] == [
        ["quickstart/version_0", "DenseLoRA", "16", "QKVUD", "–"],
        ["lora/version_0", "LoRA", "8", "QKVUD", "–"],
    ]
    for row, run_dir in zip(cells, (density_runs["denselora"], density_runs["lora"]), strict=True):
        record = json.loads((run_dir / "parameters.json").read_text())
        results = json.loads((run_dir / "evaluation" / "results.json").read_text())
        assert float(row[5]) == pytest.approx(record["trainable_percent"], rel=0.01)
        assert row[6] == f"{100 * results['datasets']['synth_boolq']['accuracy']:.1f}"
        assert row[-1] == f"**{100 * results['mean_accuracy']:.1f}**"


def _fake_run(root, name, accuracy, adapter, callbacks=None, fraction=1.0, percent=None):
    run_dir = root / name / "version_0"
    (run_dir / "evaluation").mkdir(parents=True)
    datasets = {d: {"accuracy": a} for d, a in accuracy.items()}
    mean = sum(accuracy.values()) / len(accuracy)
    (run_dir / "evaluation" / "results.json").write_text(json.dumps({"datasets": datasets, "mean_accuracy": mean}))
    config = {
        "trainer": {"callbacks": callbacks},
        "model": {"init_args": {"adapter": adapter}},
        "data": {"init_args": {"train_fraction": fraction}},
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    if percent is not None:
        (run_dir / "parameters.json").write_text(json.dumps({"trainable_percent": percent}))
    return run_dir


def test_settings_datasets_and_missing_values(tmp_path):
    dense = {
        "class_path": "denselora.methods.DenseLoRA",
        "init_args": {"r": 32, "target_modules": ["up_proj", "down_proj"]},
    }
    only = {"class_path": "denselora.methods.DenseLoRA", "init_args": {"r": 32, "activation": "identity"}}
    freeze = [{"class_path": "denselora.callbacks.FreezeEncoderDecoder", "init_args": {"unfreeze_at_step": 500}}]
    lora = {"class_path": "denselora.methods.LoRA", "init_args": {"r": 32, "target_modules": ["q_proj", "v_proj"]}}
    runs = [
        _fake_run(tmp_path, "ud", {"boolq": 0.75, "piqa": 0.875}, dense, fraction=0.1, percent=0.0123),
        _fake_run(tmp_path, "only", {"boolq": 0.5, "ARC-Easy": 1.0}, only, callbacks=freeze, percent=0.7),
        _fake_run(tmp_path, "lora", {"piqa": 0.25}, lora),
    ]
    table = markdown_table([summarise_run(r) for r in runs]).splitlines()
    assert table[0] == "| run | method | r | targets | setting | params (%) | BoolQ | PIQA | ARC-e | avg |"
    assert table[1] == "|---|---|---|---|---|---|---:|---:|---:|---:|"
    assert table[2] == "| ud/version_0 | DenseLoRA | 32 | UD | 10 % data | 0.012 | 75.0 | 87.5 | – | **81.2** |"
    setting = "Only Matrix, Freeze until step 500"
    assert table[3] == f"| only/version_0 | DenseLoRA | 32 | – | {setting} | 0.70 | 50.0 | – | 100.0 | **75.0** |"
    assert table[4] == "| lora/version_0 | LoRA | 32 | QV | – | – | – | 25.0 | – | **25.0** |"


def test_user_errors_exit_2_with_one_message(tmp_path, capsys):
    assert _exit_code(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    (tmp_path / "untested").mkdir()
    assert _exit_code(["report", str(tmp_path / "untested")]) == 2
    assert f"error: {tmp_path / 'untested' / 'evaluation' / 'results.json'}: no such file" in capsys.readouterr().err
    broken = tmp_path / "broken" / "evaluation"
    broken.mkdir(parents=True)
    (broken / "results.json").write_text("{not json")
    assert _exit_code(["report", str(broken.parent)]) == 2
    assert "is not an evaluation result" in capsys.readouterr().err
    assert _exit_code(["report", "--help"]) == 0
    assert "Tab. 1" in capsys.readouterr().out


def _likelihood_run(root, name, outcomes: dict[str, list[tuple[bool, bool]]]):
    """A run tested by likelihood: per dataset, each item's (acc right, acc_norm right)."""
    adapter = {"class_path": "denselora.methods.DenseLoRA", "init_args": {"r": 16}}
    run_dir = _fake_run(root, name, {"x": 0.0}, adapter)
    datasets = {}
    (run_dir / "evaluation" / "predictions").mkdir()
    for dataset, items in outcomes.items():
        rows = [{"index": i, "correct_choice": a, "correct_choice_norm": n} for i, (a, n) in enumerate(items)]
        lines = "\n".join(json.dumps(row) for row in rows)
        (run_dir / "evaluation" / "predictions" / f"{dataset}.jsonl").write_text(lines + "\n")
        right, right_norm = sum(a for a, _ in items), sum(n for _, n in items)
        datasets[dataset] = {
            "generated": False,
            "accuracy": None,
            "likelihood": {
                "acc": right / len(items),
                "acc_norm": right_norm / len(items),
                "correct": right,
                "correct_norm": right_norm,
                "scored": len(items),
            },
        }
    (run_dir / "evaluation" / "results.json").write_text(json.dumps({"datasets": datasets, "mean_acc": 0.0}))
    return run_dir


def test_likelihood_metrics_with_intervals_and_a_paired_test(tmp_path, capsys):
    zero_shot = _likelihood_run(tmp_path, "zero", {"ARC-Easy": [(False, False)] * 20 + [(True, True)] * 20})
    tuned = _likelihood_run(tmp_path, "tuned", {"ARC-Easy": [(True, True)] * 30 + [(False, False)] * 10})
    assert _exit_code(["report", str(zero_shot), str(tuned), "--metric", "acc_norm", "--against", str(zero_shot)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # 50 % of 40 items: 1.96 * sqrt(0.25 / 39) = 15.7 points either side.
    assert lines[2] == "| zero/version_0 | DenseLoRA | 16 | – | – | – | 50.0 ± 15.7 | **50.0** |"
    assert lines[3].endswith("| 75.0 ± 13.6 | **75.0** |")
    assert lines[5].startswith("Difference from zero/version_0 in points (acc_norm; McNemar's exact p")
    assert lines[-2] == "| zero/version_0 | +0.0 (p=1.000) | +0.0 (p=1.000) |"
    # Items 0-19: only the tuned run right (20); items 30-39: only the zero-shot run right (10).
    p = 2 * sum(math.comb(30, i) for i in range(11)) / 2**30
    assert lines[-1] == f"| tuned/version_0 | +25.0 (p={p:.3f}) | +25.0 (p={p:.3f}) |"


def test_a_metric_the_runs_lack_is_named(tmp_path, capsys):
    run = _likelihood_run(tmp_path, "zero", {"boolq": [(True, False)] * 4})
    assert _exit_code(["report", str(run)]) == 2
    assert "has no 'accuracy' for any dataset; it has --metric acc, --metric acc_norm" in capsys.readouterr().err


def test_damaged_records_and_unwritable_outputs_are_named(tmp_path, capsys):
    adapter = {"class_path": "denselora.methods.DenseLoRA", "init_args": {"r": 16}}
    run = _fake_run(tmp_path, "x", {"boolq": 0.5}, adapter)
    (run / "parameters.json").write_text('{"trainable_percent": 0.1')  # cut short
    assert _exit_code(["report", str(run)]) == 2
    assert "parameters.json is not the JSON fit writes" in capsys.readouterr().err
    (run / "parameters.json").unlink()
    (run / "evaluation" / "results.json").write_text(json.dumps({"datasets": None, "mean_accuracy": 0.5}))
    assert _exit_code(["report", str(run)]) == 2
    assert "is not an evaluation result of this trainer" in capsys.readouterr().err
    _fake_run(tmp_path, "y", {"boolq": 0.5}, adapter)
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert _exit_code(["report", str(tmp_path / "y" / "version_0"), "-o", str(blocked / "table.md")]) == 2
    assert f"cannot write {blocked / 'table.md'}" in capsys.readouterr().err
