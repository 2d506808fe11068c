"""What a new user sees on the terminal: no advertisements or repeated notices, named test sets, and a last
block that says where the outputs went."""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from denselora.callbacks.progress import NamedRichProgressBar, NamedTQDMProgressBar
from denselora.cli import main
from tests.training.cli_runs import REPO, tiny_run_args


def test_a_fit_prints_no_noise_names_the_test_sets_and_ends_with_its_outputs(tmp_path, capfd):
    main(tiny_run_args(tmp_path, "--test_after_fit", "true", "--trainer.enable_progress_bar", "true"))
    out, err = capfd.readouterr()
    printed = out + err
    assert "seamless cloud" not in printed
    assert "`weights_only` was not set" not in printed
    assert "is deprecated" not in printed
    assert "test synth_math: 6 items" in err  # off a terminal: progress lines, the test sets named
    table = out.index("| dataset | accuracy")
    block = out.rindex("fit finished; outputs in ")
    assert table < block
    assert out[table - 1] == "\n"  # the table starts on a line of its own, not the bar's
    lines = out[block:].strip().splitlines()
    labels = [line.split(":")[0].strip() for line in lines[1:]]
    assert labels == ["adapter", "checkpoints", "evaluation results", "predictions", "TensorBoard"]
    for line in lines[1:-1]:
        assert Path(line.split(":", 1)[1].strip()).exists(), line
    assert re.fullmatch(r"\s*TensorBoard:\s+tensorboard --logdir \S+", lines[-1])


def test_a_mistyped_option_says_what_and_suggests_the_right_one(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path, "--trainer.max_stepz", "3"))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        "error: unrecognized arguments: --trainer.max_stepz 3; did you mean --trainer.max_steps?"
    )
    assert "python -m denselora fit --help" in err
    assert "usage:" not in err


def test_an_option_that_only_prefixes_a_real_one_is_refused(tmp_path, capsys):
    # argparse would take --trainer.max_step for --trainer.max_steps and run without a word.
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path, "--trainer.max_step", "3"))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: unrecognized arguments: --trainer.max_step 3; did you mean --trainer.max_steps?"
    )


def test_the_usage_line_names_the_module(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    assert capsys.readouterr().out.startswith("usage: python -m denselora [options] fit")


@pytest.mark.parametrize("bar_class", [NamedRichProgressBar, NamedTQDMProgressBar])
def test_the_test_bar_names_each_test_set(bar_class):
    bar = bar_class()
    bar._trainer = SimpleNamespace(
        datamodule=SimpleNamespace(eval_sets=[SimpleNamespace(name="boolq"), SimpleNamespace(name="gsm8k")])
    )
    for index, name in enumerate(["boolq", "gsm8k"]):
        bar.has_dataloader_changed(index)
        assert bar.test_description == f"Testing {name}"
    bar._trainer = SimpleNamespace(datamodule=None)  # a data module without eval_sets
    assert bar.test_description == "Testing"


def test_a_run_shortened_below_its_validation_interval_says_no_validation_will_run(tmp_path, capsys):
    main(tiny_run_args(tmp_path, "--trainer.max_steps", "2"))  # validation every 3 batches
    assert "warning: no validation will run: --trainer.val_check_interval is 3 training batches" in (
        capsys.readouterr().err
    )
    main(tiny_run_args(tmp_path, "--trainer.max_steps", "3"))
    assert "no validation will run" not in capsys.readouterr().err


def test_no_warnings_about_what_the_user_did_not_do(tmp_path, capsys):
    import warnings

    lora = str(REPO / "lightning_configs" / "quickstart_baselines" / "lora.yaml")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(tiny_run_args(tmp_path, "--config", lora, "--model.init_args.adapter.init_args.r", "4"))
        checkpoint = next((tmp_path / "runs").glob("*/version_0/checkpoints/step*.ckpt"))
        main(tiny_run_args(tmp_path, "--config", lora, "--model.init_args.adapter.init_args.r", "4",
                           "--ckpt_path", str(checkpoint), subcommand="test"))  # fmt: skip
    messages = [str(w.message) for w in caught]
    assert not [m for m in messages if "is_gradient_checkpointing" in m or "dirpath has changed" in m], messages
    assert "Generating train split" not in capsys.readouterr().err


def test_without_a_terminal_progress_is_plain_lines(tmp_path, capsys):
    main(tiny_run_args(tmp_path, "--trainer.enable_progress_bar", "true", "--test_after_fit", "true"))
    err = capsys.readouterr().err  # captured: no terminal
    lines = [line for line in err.splitlines() if line.startswith(("training:", "step ", "validation at", "test "))]
    assert lines[0] == "training: 6 optimizer steps"
    assert re.fullmatch(r"step 6/6 \(epoch 0\) · loss \d+\.\d{4} · [\d,]+ tokens/s · 0:00:\d\d elapsed", lines[-5])
    assert [line.split(":")[0] for line in lines if line.startswith("validation")] == [
        "validation at step 3",
        "validation at step 6",
    ]
    assert [line.split(":")[0] for line in lines[-3:]] == ["test synth_boolq", "test synth_choice", "test synth_math"]
    assert all(re.search(r": 6 items on this process in 0:00:\d\d$", line) for line in lines[-3:])
    assert "\r" not in err  # no bar redrawn in place


def test_other_callbacks_keep_the_plain_lines_and_a_chosen_bar_is_kept(tmp_path, capsys):
    monitor = '{"class_path": "denselora.callbacks.UpdateDensityMonitor"}'
    main(tiny_run_args(tmp_path, "--trainer.enable_progress_bar", "true", "--trainer.callbacks+", monitor))
    assert "step 6/6 (epoch 0)" in capsys.readouterr().err
    bar = '{"class_path": "lightning.pytorch.callbacks.TQDMProgressBar"}'
    main(tiny_run_args(tmp_path, "--trainer.enable_progress_bar", "true", "--trainer.callbacks+", bar))
    assert "step 6/6" not in capsys.readouterr().err


def test_the_rich_bar_reads_right_when_max_steps_bounds_the_run():
    bar = NamedRichProgressBar()
    bar._trainer = SimpleNamespace(max_epochs=-1, max_steps=160, global_step=12, datamodule=None)
    assert bar._get_train_description(0).strip() == "Epoch 0 (until step 160)"
    bar._trainer = SimpleNamespace(max_epochs=2, max_steps=-1, global_step=12, datamodule=None)
    assert bar._get_train_description(1).strip() == "Epoch 1/1"  # Lightning's own, where it reads right
