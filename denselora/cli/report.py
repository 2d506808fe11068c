"""``python -m denselora report``: the evaluation results of several runs as one markdown table (paper Tab. 1).

Each run directory contributes one row, from three files the trainer writes into it: ``evaluation/results.json``
(per-dataset scores and the mean, from ``test``), ``config.yaml`` (method, rank, targets and the ablation
switches) and ``parameters.json`` (the trainable share, written when fitting starts).

``--metric`` chooses the score: the generation ``accuracy`` (the paper's) or, for runs tested with
``scoring: likelihood`` or ``both``, ``acc`` or ``acc_norm``, each with its 95 % interval. ``--against RUN`` adds a
second table: each run's difference from that run on the items both scored, with McNemar's exact p-value
(:mod:`denselora.evaluation.paired`), read from the runs' ``evaluation/predictions/<dataset>.jsonl``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from denselora.cli.finished_run_files import require_file, require_run_dir
from denselora.errors import DataError, RunDirectoryError
from denselora.evaluation.paired import PairedComparison, compare_paired
from denselora.evaluation.results import interval95
from denselora.methods.denselora.options import Activation
from denselora.run_layout import CONFIG_FILE, EVALUATION_DIR, PREDICTIONS_DIR, RESULTS_JSON_FILE
from denselora.training.parameters_json import read_parameter_record

__all__ = ["RunSummary", "build_parser", "main", "markdown_table", "summarise_run"]


RESULTS_FILE = f"{EVALUATION_DIR}/{RESULTS_JSON_FILE}"

#: ``--metric`` -> (where ``results.json`` keeps a dataset's score, the per-item field of the predictions).
METRICS = {
    "accuracy": ("accuracy", "correct"),
    "acc": ("likelihood.acc", "correct_choice"),
    "acc_norm": ("likelihood.acc_norm", "correct_choice_norm"),
}

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
        accuracy: the chosen metric per dataset (as named in ``results.json``), in ``[0, 1]``.
        mean: the unweighted mean over the run's datasets, in ``[0, 1]``.
        interval: half the width of each dataset's 95 % interval (likelihood metrics only).
        path: the run directory.
    """

    run: str
    method: str
    r: int | None
    targets: str
    setting: str
    trainable_percent: float | None
    accuracy: dict[str, float] = field(default_factory=dict)
    mean: float = float("nan")
    interval: dict[str, float] = field(default_factory=dict)
    path: Path | None = None


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
    parser.add_argument(
        "--metric",
        choices=list(METRICS),
        default="accuracy",
        help="accuracy: the generated answers' (the paper's); acc, acc_norm: by likelihood (runs tested with "
        "model.init_args.scoring likelihood or both), with 95 %% intervals",
    )
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        metavar="RUN",
        help="also tabulate each run's difference from this run on the items both scored, with McNemar's exact p",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    summaries = [summarise_run(path, args.metric) for path in args.runs]
    table = markdown_table(summaries)
    if args.against is not None:
        reference = summarise_run(args.against, args.metric)
        table += "\n\n" + paired_table(summaries, reference, args.metric)
    print(table)
    if args.output is not None:
        try:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(table + "\n")
        except OSError as err:
            raise RunDirectoryError(f"cannot write {args.output}: {err.strerror or err}; choose another -o") from None


def summarise_run(path: str | Path, metric: str = "accuracy") -> RunSummary:
    """Read one run directory.

    Args:
        path: the run directory.
        metric: one of :data:`METRICS`.

    Raises:
        MissingRunFileError: the directory or its ``evaluation/results.json`` does not exist.
        DataError: ``results.json`` is not what the evaluation writes, or lacks the metric (the message says which
            ``--metric`` it has).
    """
    run_dir = require_run_dir(path)
    results_path = require_file(run_dir, RESULTS_FILE, "`test` (or `fit` with test_after_fit: true)")
    try:
        results = json.loads(results_path.read_text())
        if not isinstance(results.get("datasets"), dict):
            raise TypeError("'datasets' is not a mapping of test sets")
        datasets = dict(results["datasets"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise DataError(f"{results_path} is not an evaluation result of this trainer ({err!r})") from None
    accuracy: dict[str, float] = {}
    interval: dict[str, float] = {}
    for name, entry in datasets.items():
        score = _score(entry, metric)
        if score is None:
            continue
        accuracy[name] = score
        if metric != "accuracy":
            counts = entry["likelihood"]
            right = counts["correct"] if metric == "acc" else counts["correct_norm"]
            interval[name] = interval95(int(right), int(counts["scored"]))
    if not accuracy:
        has = [name for name in METRICS if any(_score(entry, name) is not None for entry in datasets.values())]
        raise DataError(
            f"{results_path} has no {metric!r} for any dataset; it has "
            f"{', '.join(f'--metric {name}' for name in has) or 'no score this report reads'}"
        )
    mean = sum(accuracy.values()) / len(accuracy)

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
        interval=interval,
        path=run_dir,
    )


def _score(entry: Any, metric: str) -> float | None:
    """A dataset's ``metric`` from its ``results.json`` entry, ``None`` when that run did not measure it."""
    value: Any = entry
    for key in METRICS[metric][0].split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None or (metric == "accuracy" and isinstance(entry, dict) and entry.get("generated") is False):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"a results.json entry holds {value!r} as its {metric}") from None


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
            *(_cell(s, d) for d in datasets),
            f"**{100 * s.mean:.1f}**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(summary: RunSummary, dataset: str) -> str:
    if dataset not in summary.accuracy:
        return "–"
    if dataset in summary.interval:
        return f"{100 * summary.accuracy[dataset]:.1f} ± {100 * summary.interval[dataset]:.1f}"
    return f"{100 * summary.accuracy[dataset]:.1f}"


def paired_table(summaries: list[RunSummary], reference: RunSummary, metric: str) -> str:
    """Each run's difference from ``reference`` in points, per dataset and over all items both scored, with
    McNemar's exact p-value: ``+10.3 (p<0.001)``.

    Raises:
        MissingRunFileError: a run lacks the predictions of a dataset both report.
        DataError: a predictions file lacks the metric's per-item field.
    """
    datasets = list(dict.fromkeys(name for s in summaries for name in s.accuracy if name in reference.accuracy))
    header = ["run", *(DATASET_NAMES.get(d, d) for d in datasets), "all items"]
    lines = [
        f"Difference from {reference.run} in points ({metric}; McNemar's exact p, paired on items)",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---:|" * (len(datasets) + 1),
    ]
    reference_items = {d: _item_outcomes(reference, d, metric) for d in datasets}
    for s in summaries:
        cells = [s.run]
        pooled_run: dict[tuple[str, int], bool] = {}
        pooled_reference: dict[tuple[str, int], bool] = {}
        for d in datasets:
            if d not in s.accuracy:
                cells.append("–")
                continue
            outcomes = _item_outcomes(s, d, metric)
            cells.append(_paired_cell(compare_paired(outcomes, reference_items[d])))
            pooled_run.update({(d, index): value for index, value in outcomes.items()})
            pooled_reference.update({(d, index): value for index, value in reference_items[d].items()})
        cells.append(_paired_cell(compare_paired(pooled_run, pooled_reference)) if pooled_run else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _paired_cell(comparison: PairedComparison) -> str:
    p = comparison.p_value
    shown = "p<0.001" if p < 0.001 else f"p={p:.3f}"
    return f"{100 * comparison.difference:+.1f} ({shown})"


def _item_outcomes(summary: RunSummary, dataset: str, metric: str) -> dict[Any, bool]:
    assert summary.path is not None
    relative = f"{EVALUATION_DIR}/{PREDICTIONS_DIR}/{dataset}.jsonl"
    path = require_file(summary.path, relative, "`test` (it writes every item's outcome there)")
    field_name = METRICS[metric][1]
    outcomes = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            outcomes[row["index"]] = bool(row[field_name])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise DataError(f"{path}, line {number}: no item outcome {field_name!r} ({err!r})") from None
    return outcomes


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
