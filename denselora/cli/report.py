"""``python -m denselora report``: the evaluation results of several runs as one markdown table (paper Tab. 1).

Each run directory contributes one row, from three files the trainer writes into it: ``evaluation/results.json``
(per-dataset accuracy and the mean, from ``test``), ``config.yaml`` (method, rank, targets and the ablation
switches) and ``parameters.json`` (the trainable share, written when fitting starts).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from denselora.adapter.options import Activation
from denselora.cli.run_dirs import require_file, require_run_dir
from denselora.errors import DataError
from denselora.run_layout import CONFIG_FILE, EVALUATION_DIR, RESULTS_JSON_FILE
from denselora.training.parameter_record import read_parameter_record

__all__ = ["RunSummary", "build_parser", "main", "markdown_table", "summarise_run"]


RESULTS_FILE = f"{EVALUATION_DIR}/{RESULTS_JSON_FILE}"

#: The paper's column names for the LLM-Adapters test sets.
DATASET_NAMES = {
    "boolq": "BoolQ",
    "piqa": "PIQA",
    "social_i_qa": "SIQA",
    "hellaswag": "HellaSwag",
    "winogrande": "WinoGrande",
    "ARC-Easy": "ARC-e",
    "ARC-Challenge": "ARC-c",
    "openbookqa": "OBQA",
    "gsm8k": "GSM8K",
    "mawps": "MAWPS",
}

#: The paper's letters for LLaMA's projections (Tab. 3), in its order.
TARGET_LETTERS = {
    "q_proj": "Q",
    "k_proj": "K",
    "v_proj": "V",
    "o_proj": "O",
    "gate_proj": "G",
    "up_proj": "U",
    "down_proj": "D",
}


@dataclass
class RunSummary:
    """One row of the table.

    Attributes:
        run: the run's name, ``<logger name>/version_N``.
        method: ``DenseLoRA``, ``LoRA``, ``DoRA``, ``VeRA`` (the adapter's class name).
        r: the rank, when the config says.
        targets: the adapted modules in the paper's letters (``QKVUD``), or their names.
        setting: what else differs from the recipe: ``Only Matrix``, ``Freeze``, ``10 % data``, ...
        trainable_percent: trainable parameters in % of all, from ``parameters.json``.
        accuracy: per dataset (as named in ``results.json``), in ``[0, 1]``.
        mean: the unweighted mean over the run's datasets, in ``[0, 1]``.
    """

    run: str
    method: str
    r: int | None
    targets: str
    setting: str
    trainable_percent: float | None
    accuracy: dict[str, float] = field(default_factory=dict)
    mean: float = float("nan")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m denselora report",
        description=(
            "Gather the evaluation results (evaluation/results.json) of several runs into one markdown table like "
            "the paper's Tab. 1: method, rank, targets, setting, trainable %, accuracy per dataset, average."
        ),
        epilog="example: python -m denselora report runs/commonsense/version_0 runs/lora/version_0 -o table.md",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories, one row each, in this order")
    parser.add_argument("-o", "--output", type=Path, default=None, help="also write the table to this file")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    table = markdown_table([summarise_run(path) for path in args.runs])
    print(table)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table + "\n")


def summarise_run(path: str | Path) -> RunSummary:
    """Read one run directory.

    Raises:
        MissingRunFileError: the directory or its ``evaluation/results.json`` does not exist.
        DataError: ``results.json`` is not what the evaluation writes.
    """
    run_dir = require_run_dir(path)
    results_path = require_file(run_dir, RESULTS_FILE, "`test` (or `fit` with test_after_fit: true)")
    try:
        results = json.loads(results_path.read_text())
        accuracy = {name: float(entry["accuracy"]) for name, entry in results["datasets"].items()}
        mean = float(results["mean_accuracy"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise DataError(f"{results_path} is not an evaluation result of this trainer ({err!r})") from None

    config = _read_config(run_dir)
    adapter = _get(config, "model", "init_args", "adapter") or {}
    adapter_args = adapter.get("init_args") or {}
    record = read_parameter_record(run_dir) or {}
    method = (adapter.get("class_path") or "").rpartition(".")[2] or record.get("method") or "?"
    return RunSummary(
        run=f"{run_dir.parent.name}/{run_dir.name}" if run_dir.parent.name else run_dir.name,
        method=method,
        r=adapter_args.get("r", record.get("r")),
        targets=_targets_label(adapter_args.get("target_modules")),
        setting=", ".join(_setting(config, adapter_args)),
        trainable_percent=record.get("trainable_percent"),
        accuracy=accuracy,
        mean=mean,
    )


def markdown_table(summaries: list[RunSummary]) -> str:
    """The rows as a markdown table; accuracies in %, one decimal; a dataset a run lacks shows as ``–``."""
    datasets = list(dict.fromkeys(name for s in summaries for name in s.accuracy))
    header = ["run", "method", "r", "targets", "setting", "params (%)", *(DATASET_NAMES.get(d, d) for d in datasets)]
    lines = [
        "| " + " | ".join([*header, "avg"]) + " |",
        "|" + "---|" * 6 + "---:|" * (len(datasets) + 1),
    ]
    for s in summaries:
        cells = [
            s.run,
            s.method,
            "–" if s.r is None else str(s.r),
            s.targets or "–",
            s.setting or "–",
            _format_percent(s.trainable_percent),
            *(f"{100 * s.accuracy[d]:.1f}" if d in s.accuracy else "–" for d in datasets),
            f"**{100 * s.mean:.1f}**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise DataError(f"{path} is not valid YAML: {err}") from None


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _targets_label(targets: Any) -> str:
    if isinstance(targets, str):
        return targets
    if not targets:
        return ""
    if all(t in TARGET_LETTERS for t in targets):
        return "".join(letter for name, letter in TARGET_LETTERS.items() if name in targets)
    return ",".join(targets)


def _setting(config: dict[str, Any], adapter_args: dict[str, Any]) -> list[str]:
    parts = []
    if adapter_args.get("activation") == Activation.IDENTITY:
        parts.append("Only Matrix")
    freeze = _freeze_callback(config)
    if freeze is not None:
        args = freeze.get("init_args") or {}
        if args.get("unfreeze_at_step"):
            parts.append(f"Freeze until step {args['unfreeze_at_step']}")
        elif args.get("unfreeze_at_epoch"):
            parts.append(f"Freeze until epoch {args['unfreeze_at_epoch']}")
        else:
            parts.append("Freeze")
    elif adapter_args.get("train_encoder_decoder") is False:
        parts.append("Freeze (W_d frozen at its init)")
    if adapter_args.get("sharing") == "layer":
        parts.append("a pair per layer")
    fraction = _get(config, "data", "init_args", "train_fraction")
    if isinstance(fraction, (int, float)) and fraction < 1:
        parts.append(f"{100 * fraction:g} % data")
    return parts


def _freeze_callback(config: dict[str, Any]) -> dict[str, Any] | None:
    callbacks = _get(config, "trainer", "callbacks") or []
    if isinstance(callbacks, dict):
        callbacks = [callbacks]
    for callback in callbacks:
        if isinstance(callback, dict) and str(callback.get("class_path", "")).endswith("FreezeEncoderDecoder"):
            return callback
    return None


def _format_percent(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"
