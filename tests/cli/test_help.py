"""Each command's ``--help`` is short and names what a new user needs; ``--help-all`` lists every option; every
command the short help suggests runs."""

import re
import shlex

import pytest

from denselora.__main__ import main
from denselora.cli.help import PROG
from tests.training.cli_runs import REPO

COMMANDS = ("fit", "validate", "test", "predict")
ESSENTIALS = (
    "--config", "--print_config", "--seed_everything", "--model", "--data", "--trainer.accelerator",
    "--trainer.devices", "--trainer.precision", "--ckpt_path", "--help-all", "--model.help", "--data.help",
    "denselora.training.FineTuner", "denselora.data.CommonsenseDataModule", "denselora.data.MathDataModule",
)  # fmt: skip


def _exit_code_and_output(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code, capsys.readouterr().out


def _short_help(command, capsys):
    code, out = _exit_code_and_output([command, "--help"], capsys)
    assert code == 0
    return out


@pytest.mark.parametrize("command", COMMANDS)
def test_the_help_is_short_and_names_the_essentials(command, capsys):
    out = _short_help(command, capsys)
    lines = out.splitlines()
    assert len(lines) <= 60
    assert lines[0].startswith(f"usage: {PROG} [options] {command} ")
    for name in ESSENTIALS + (("--trainer.max_epochs", "--trainer.max_steps") if command == "fit" else ()):
        assert re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", out), name
    assert f"{PROG} {command} --help-all" in out
    assert f"{PROG} {command} --model.help denselora.training.FineTuner" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_the_options_the_help_lists_are_options_of_the_command(command, capsys, tmp_path):
    """Every option in the short help's first column, given a value, parses and reaches the config."""
    out = _short_help(command, capsys)
    options = [line.split()[0].rstrip(",") for line in out.splitlines() if line.startswith("  -")]
    values = {
        "-c": None, "--print_config": None,  # both are in the command below
        "--seed_everything": "7", "--model": "denselora.training.FineTuner",
        "--data": "denselora.quickstart.QuickstartDataModule", "--data.init_args.data_dir": str(tmp_path / "data"),
        "--data.init_args.predict_file": "questions.json", "--data.init_args.eval_limit": "3",
        "--trainer.max_epochs": "5", "--trainer.max_steps": "11", "--trainer.accelerator": "cpu",
        "--trainer.devices": "1", "--trainer.precision": "bf16-mixed",
        "--trainer.logger.init_args.save_dir": str(tmp_path / "logs"), "--ckpt_path": str(tmp_path / "x.ckpt"),
    }  # fmt: skip
    assert set(options) <= set(values), set(options) - set(values)
    given = [arg for option in options if values[option] is not None for arg in (option, values[option])]
    quickstart = str(REPO / "lightning_configs" / "quickstart.yaml")
    code, printed = _exit_code_and_output([command, "--config", quickstart, *given, "--print_config"], capsys)
    assert code == 0
    for option in options:
        if values[option] is not None:
            assert values[option] in printed, option


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_the_help_suggests_runs(command, capsys, monkeypatch):
    monkeypatch.chdir(REPO)  # the suggestions name configs relative to the checkout
    out = _short_help(command, capsys)
    suggested = [line.strip() for line in out.splitlines() if line.strip().startswith(f"{PROG} ")]
    assert len(suggested) >= 4
    for line in suggested:
        args = shlex.split(line)[len(PROG.split()) :]
        code, printed = _exit_code_and_output(args, capsys)
        assert code == 0, line
        assert len(printed.splitlines()) > 20, line


def test_help_all_lists_every_option(capsys):
    code, out = _exit_code_and_output(["fit", "--help-all"], capsys)
    assert code == 0
    assert out.startswith(f"usage: {PROG} [options] fit ")
    for option in ("--trainer.gradient_clip_val", "--checkpoint.monitor", "--lr_monitor.logging_interval"):
        assert option in out
    assert len(out.splitlines()) > 300  # the short help stays far below this


def test_the_help_of_a_class_names_the_program(capsys):
    code, out = _exit_code_and_output(["fit", "--model.help", "denselora.training.FineTuner"], capsys)
    assert code == 0
    assert out.startswith(f"usage: {PROG} ")
    assert "--model.init_args.adapter" in out


@pytest.mark.parametrize(
    ("help_flag", "class_path", "prefix"),
    [
        ("--data.help", "denselora.data.CommonsenseDataModule", "--data.init_args."),
        ("--model.help", "denselora.training.FineTuner", "--model.init_args."),
        ("--model.init_args.adapter.help", "denselora.methods.DenseLoRA", "--model.init_args.adapter.init_args."),
    ],
)
def test_every_option_the_help_of_a_class_prints_works_as_printed(capsys, help_flag, class_path, prefix):
    code, out = _exit_code_and_output(["fit", help_flag, class_path], capsys)
    assert code == 0
    listed = sorted({m for m in re.findall(r"^  (--[\w.]+) ", out, re.MULTILINE) if not m.endswith(".help")})
    assert listed and all(option.startswith(prefix) for option in listed), listed
    # Each listed option is one the command takes: --print_config resolves it without an error.
    quickstart = str(REPO / "lightning_configs" / "quickstart.yaml")
    values = {"r": "8", "eval_limit": "3", "learning_rate": "0.001", "cutoff_len": "64"}
    for option in listed:
        name = option.rpartition(".")[2]
        if name in values:
            args = ["fit", "--config", quickstart, option, values[name], "--print_config"]
            assert _exit_code_and_output(args, capsys)[0] == 0, option


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("--model.init_args.learnig_rate", "--model.init_args.learning_rate"),
        ("--model.init_args.adapter.init_args.rr", "--model.init_args.adapter.init_args.r"),
        ("--data.init_args.eval_limt", "--data.init_args.eval_limit"),
    ],
)
def test_a_nested_typo_gets_one_line_and_the_closest_argument(capsys, typo, suggestion):
    from denselora.cli import main as run_cli

    quickstart = str(REPO / "lightning_configs" / "quickstart.yaml")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(["fit", "--config", quickstart, typo, "4"])
    assert exit_info.value.code == 2
    first, *rest = capsys.readouterr().err.strip().splitlines()[-2:]
    assert first.startswith(f"error: {typo}: ") and first.endswith(f"did you mean {suggestion}?"), first
    assert rest == [f"run: {PROG} fit --help-all, for every option"]


def test_the_top_level_help_keeps_its_listing(capsys):
    code, out = _exit_code_and_output(["--help"], capsys)
    assert code == 0
    assert "python -m denselora report" in out
    assert "python -m denselora data download" in out
    assert "{fit,validate,test,predict}" in out


def test_an_unknown_option_points_to_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["test", "--trainer.max_stepz", "3"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"run: {PROG} test --help-all, for every option"
