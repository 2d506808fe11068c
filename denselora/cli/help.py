"""The short ``--help`` of ``fit``, ``validate``, ``test`` and ``predict``; ``--help-all`` lists every option.

LightningCLI's help lists every argument of the Trainer, of each callback, of the optimizer and of the
scheduler: a listing in which the few options a new user needs are hard to find. Each command's ``--help``
here names those few and how to see the rest: ``--help-all``, which prints LightningCLI's listing unchanged,
and jsonargparse's ``--model.help CLASS`` and ``--data.help CLASS``, which print the arguments of one class.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from typing import Any

from lightning.pytorch.cli import LightningArgumentParser

__all__ = ["PROG", "DenseLoRAArgumentParser", "options_as_given", "short_help"]

PROG = "python -m denselora"

#: The data modules a config names as ``data.class_path``.
_DATA_CLASSES = (
    "denselora.data.CommonsenseDataModule",
    "denselora.data.MathDataModule",
    "denselora.data.LLMAdaptersDataModule",
    "denselora.quickstart.QuickstartDataModule",
)

_DESCRIPTIONS = {
    "fit": "Train the adapter, checking the validation loss; keep the best checkpoint and export its adapter.",
    "validate": "Compute a checkpoint's validation loss (and accuracy, with --data.init_args.val_generation_size).",
    "test": "Evaluate a checkpoint on the test sets: the accuracy on each set and every answer, in <run>/evaluation/.",
    "predict": "Answer your own questions (--data.init_args.predict_file) with a trained adapter.",
}

_CKPT_PATH = {
    "fit": "resume a run; <run>/checkpoints/last.ckpt continues where it stopped",
    "validate": "the trained adapter, <run>/checkpoints/<checkpoint>.ckpt; without it: the adapter as initialised",
    "test": "the trained adapter, <run>/checkpoints/<checkpoint>.ckpt; without it: the base model's own answers",
    "predict": "the trained adapter, <run>/checkpoints/<checkpoint>.ckpt; without it: the base model's own answers",
}

Row = tuple[str, str]

#: The help's lines are wrapped to this width; the option column is this wide.
_WIDTH = 102
_OPTION_COLUMN = 34


def _sections(command: str) -> list[tuple[str, list[Row]]]:
    """The short help's sections of options: a title and its rows of (option, what it does)."""
    rows = [
        ("--model CLASS", "denselora.training.FineTuner (adapter: --model.init_args.adapter)"),
        ("--data CLASS", ", ".join(_DATA_CLASSES)),
        ("--data.init_args.data_dir DIR", "the LLM-Adapters checkout (dataset/, ft-training_set/)"),
    ]
    if command == "predict":
        rows.append(("--data.init_args.predict_file FILE", "a JSON list of records, each with an instruction"))
    if command == "test":
        rows.append(("--data.init_args.eval_limit N", "only the first N items of each test set"))
    trainer_rows = []
    if command == "fit":
        trainer_rows += [
            ("--trainer.max_epochs N", "passes over the training set"),
            ("--trainer.max_steps N", "optimizer steps; the run stops at the first of the two limits"),
        ]
    trainer_rows += [
        ("--trainer.accelerator NAME", "cpu, gpu, mps or auto"),
        ("--trainer.devices N", "how many devices, or which ([0, 2]); one process each"),
        ("--trainer.precision P", "32-true, bf16-mixed, 16-mixed, bf16-true, ..."),
        ("--trainer.logger.init_args.save_dir DIR", "where the run directories go: DIR/<name>/version_N"),
    ]
    return [
        (
            "Settings come from YAML configs and options, each overriding those before it",
            [
                ("-c, --config CONFIG", "a YAML config (lightning_configs/); repeat it to stack presets"),
                ("--print_config", "print the resolved config, every setting and its value, and exit"),
                ("--seed_everything SEED", "the seed; true (the default) draws one and records it"),
            ],
        ),
        (
            "Model and data, each a class and its arguments (--model.init_args.NAME, --data.init_args.NAME)",
            rows,
        ),
        ("Trainer (every argument of Lightning's Trainer is --trainer.NAME)", trainer_rows),
        ("Checkpoint", [("--ckpt_path PATH", _CKPT_PATH[command])]),
    ]


def _more(command: str) -> list[tuple[str, list[str]]]:
    """Where the other options are: what each command shows, and the commands."""
    run = f"{PROG} {command}"
    return [
        ("every option", [f"{run} --help-all"]),
        (
            "the arguments of one class (the model, a data module, an adapter method)",
            [
                f"{run} --model.help denselora.training.FineTuner",
                f"{run} --data.help {_DATA_CLASSES[0]}",
                f"{run} --model.init_args.adapter.help denselora.methods.DenseLoRA",
            ],
        ),
        ("every setting of a config, resolved", [f"{run} --config lightning_configs/quickstart.yaml --print_config"]),
    ]


def _row(option: str, text: str) -> list[str]:
    """One option in argparse's layout: its text beside it, or on the next line when the option is too long."""
    indent = " " * _OPTION_COLUMN
    wrapped = textwrap.wrap(text, _WIDTH - _OPTION_COLUMN, break_on_hyphens=False)
    first = f"  {option}"
    if len(first) + 2 > _OPTION_COLUMN:
        return [first] + [indent + line for line in wrapped]
    return [first.ljust(_OPTION_COLUMN) + wrapped[0]] + [indent + line for line in wrapped[1:]]


def short_help(command: str) -> str:
    """The short help of ``command``: its essential options and how to see the others."""
    lines = [
        f"usage: {PROG} [options] {command} [-h] [--help-all] [-c CONFIG] [--NAME VALUE ...]",
        "",
        *textwrap.wrap(_DESCRIPTIONS[command], _WIDTH),
    ]
    for title, rows in _sections(command):
        lines += ["", f"{title}:"]
        for option, text in rows:
            lines += _row(option, text)
    lines += ["", "More:"]
    for what, commands in _more(command):
        lines += [f"  {what}:"] + [f"    {line}" for line in commands]
    return "\n".join(lines) + "\n"


#: Where the arguments of a class that ``--NAME.help CLASS`` describes are set on the command line.
_CLASS_ARGUMENTS = {
    "model": "model.init_args",
    "data": "data.init_args",
    "adapter": "model.init_args.adapter.init_args",
    "base": "model.init_args.base.init_args",
}


def options_as_given(text: str) -> str:
    """jsonargparse's help of one class (``--data.help CLASS``) with its options as the command line takes them.

    jsonargparse names them as if the class were set on its own (``--data.eval_limit``, ``--adapter.r``); under
    LightningCLI they are ``--data.init_args.eval_limit`` and ``--model.init_args.adapter.init_args.r``.
    """
    found = re.search(r"Help for --(\w+)\.help=", text)
    if found is None or found.group(1) not in _CLASS_ARGUMENTS:
        return text
    prefix = found.group(1)
    arguments = _CLASS_ARGUMENTS[prefix]
    owner = arguments.removesuffix(".init_args")

    def rewrite(match: re.Match) -> str:
        rest = match.group(1)
        return f"--{owner}.{rest}" if rest == "help" else f"--{arguments}.{rest}"

    return re.sub(rf"--{prefix}\.([\w.+]+)", rewrite, text)


class _PrintFullHelp(argparse.Action):
    """``--help-all``: LightningCLI's listing of every option."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: Any, values: Any, option_string: Any = None) -> None:
        sys.stdout.write(parser.format_full_help())
        parser.exit()


class DenseLoRAArgumentParser(LightningArgumentParser):
    """The parser of the command line: for a parser built with ``command``, ``--help`` prints
    :func:`short_help` and ``--help-all`` the full listing.

    Args:
        command: the subcommand this parser reads (``fit``, ...); ``None`` (the top-level parser, and those
            jsonargparse builds for ``--model.help CLASS``) keeps the full help.
        *args: passed to :class:`~lightning.pytorch.cli.LightningArgumentParser`.
        **kwargs: passed to :class:`~lightning.pytorch.cli.LightningArgumentParser`.
    """

    def __init__(self, *args: Any, command: str | None = None, **kwargs: Any) -> None:
        # jsonargparse builds the parser of --model.help CLASS without a prog, which would show as __main__.py.
        kwargs.setdefault("prog", f"{PROG} COMMAND")
        super().__init__(*args, **kwargs)
        self.command = command
        if command is not None:
            self.add_argument("--help-all", action=_PrintFullHelp, help="Show every option and exit.")

    def format_help(self, *args: Any, **kwargs: Any) -> str:
        if self.command is None:
            return options_as_given(super().format_help(*args, **kwargs))
        return short_help(self.command)

    def format_full_help(self) -> str:
        """The help that lists every option: LightningCLI's own."""
        return super().format_help()
