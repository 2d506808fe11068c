"""``fit`` on option-text targets, then ``test`` scored both ways: what the run writes, prints and logs."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.training.cli_runs import run, run_dirs, tiny_run_args


def test_fit_then_test_by_likelihood_logs_acc_and_acc_norm(tmp_path, capsys):
    run(
        tiny_run_args(
            tmp_path,
            "--data.init_args.train_target", "option_text",
            "--data.init_args.eval_datasets", "[synth_choice, synth_math]",
            "--model.init_args.scoring", "both",
            "--test_after_fit", "true",
        )
    )  # fmt: skip
    (run_dir,) = run_dirs(tmp_path)
    results = json.loads((run_dir / "evaluation" / "results.json").read_text())
    assert results["scoring"] == "both"
    assert results["datasets"]["synth_choice"]["likelihood"]["scored"] == 6
    assert "likelihood" not in results["datasets"]["synth_math"]
    printed = capsys.readouterr().out
    assert "| dataset (likelihood) | acc (%) | acc_norm (%)" in printed and "| synth_choice |" in printed
    events = EventAccumulator(str(run_dir)).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"test/synth_choice/acc", "test/synth_choice/acc_norm", "test/mean_acc", "test/mean_acc_norm"} <= scalars
    assert {"test/synth_choice/accuracy", "test/synth_math/accuracy", "test/mean_accuracy"} <= scalars
    (logged,) = events.Scalars("test/synth_choice/acc")
    assert logged.value == results["datasets"]["synth_choice"]["likelihood"]["acc"]
    config = (run_dir / "config.yaml").read_text()
    assert "train_target: option_text" in config and "scoring: both" in config


def test_a_set_that_cannot_be_scored_so_is_refused_before_training(tmp_path, capsys):
    args = tiny_run_args(
        tmp_path,
        "--data.init_args.eval_datasets", "[synth_choice, synth_math]",
        "--model.init_args.scoring", "likelihood",
        "--test_after_fit", "true",
    )  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        run(args)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "error: test set 'synth_math' cannot be scored by likelihood: record 0 of" in error
    assert "lists no options" in error and "Traceback" not in error
    # Refused before any training step: no checkpoint was written.
    assert not list((tmp_path / "runs").glob("*/version_*/checkpoints/*.ckpt"))


def test_test_by_likelihood_of_a_set_without_options_exits_2(tmp_path, capsys):
    args = tiny_run_args(
        tmp_path, "--data.init_args.eval_datasets", "[synth_math]", "--model.init_args.scoring", "likelihood",
        subcommand="test",
    )  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        run(args)
    assert exit_info.value.code == 2
    assert "error: test set 'synth_math' cannot be scored by likelihood" in capsys.readouterr().err
