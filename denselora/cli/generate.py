"""``python -m denselora generate``: an instruction in, the answer out, with a run's checkpoint or adapter.

The prompt is the run's evaluation template (its ``config.yaml``; ``--template`` to choose), the answer is read
from the generated text as the evaluation reads it (up to the next prompt marker). Instructions come from the
arguments, a ``--file`` (a JSON list of records with ``instruction`` and optionally ``input``, or a text file with
one instruction per line), or standard input (one per line). On a terminal, greedy generation streams its tokens.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from transformers import TextStreamer

from denselora.data.prompts import TEMPLATES, format_prompt
from denselora.dtypes import DTYPES
from denselora.errors import ConfigError, MissingDataError
from denselora.evaluation.generation import generate_completions, input_device
from denselora.evaluation.harness.loading import check_model_options, load_model, run_dir_of
from denselora.run_layout import CONFIG_FILE
from denselora.tasks import extract_response

__all__ = ["build_parser", "main"]

_EXAMPLES = """examples:
  python -m denselora generate --ckpt_path runs/quickstart/version_0/checkpoints/last.ckpt \
      "Is water wet? Answer true or false."
  python -m denselora generate --adapter runs/quickstart/version_0/adapter --file questions.json
  echo "What is 2 + 3?" | python -m denselora generate --ckpt_path runs/quickstart/version_0/checkpoints/last.ckpt
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m denselora generate",
        description="Answer instructions with a run's checkpoint or exported adapter (or a bare base).",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("instructions", nargs="*", help="instructions to answer (none: --file, or standard input)")
    model = parser.add_argument_group(
        "the model: --ckpt_path, --adapter (optionally with --pretrained) or --pretrained"
    )
    model.add_argument("--ckpt_path", help="a run's checkpoint, e.g. runs/x/version_0/checkpoints/last.ckpt")
    model.add_argument("--adapter", help="an exported adapter folder, e.g. runs/x/version_0/adapter")
    model.add_argument("--pretrained", help="a bare base, or the base of --adapter (default: the run's)")
    model.add_argument("--tokenizer", help="the tokenizer (default: the run's, or the base's own)")
    model.add_argument("--dtype", choices=list(DTYPES), help="the weights' dtype (default: the run's, else float32)")
    parser.add_argument("--file", help="a JSON list of records (instruction, input) or a text file, one per line")
    parser.add_argument("--input", default="", help="the input field of the instructions given (default: none)")
    parser.add_argument("--template", choices=list(TEMPLATES), help="the prompt template (default: the run's)")
    parser.add_argument("--max_new_tokens", type=int, default=128, help="generation budget (default 128)")
    parser.add_argument("--num_beams", type=int, default=1, help="1: greedy, streamed on a terminal (default)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    check_model_options(args.ckpt_path, args.adapter, args.pretrained)
    if args.max_new_tokens < 1 or args.num_beams < 1:
        raise ConfigError("--max_new_tokens and --num_beams must be at least 1")
    records = _records(args)
    template = args.template or _run_template(run_dir_of(args.ckpt_path, args.adapter)) or "alpaca"
    loaded = load_model(args.ckpt_path, args.adapter, args.pretrained, args.tokenizer, args.dtype)
    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    tokenizer.padding_side = "left"
    stream = sys.stdout.isatty() and args.num_beams == 1
    for instruction, given in records:
        prompt = format_prompt(template, instruction, given)
        encoded = tokenizer([prompt], return_tensors="pt")
        streamer = TextStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True) if stream else None
        (completion,) = generate_completions(
            model,
            tokenizer,
            encoded["input_ids"].to(input_device(model)),
            encoded["attention_mask"].to(input_device(model)),
            max_new_tokens=args.max_new_tokens,
            num_beams=args.num_beams,
            streamer=streamer,
        )
        if not stream:  # streamed, the tokens are on the screen already
            print(extract_response(prompt + completion), flush=True)


def _records(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.instructions:
        return [(instruction, args.input) for instruction in args.instructions]
    if args.file:
        return _read_file(Path(args.file))
    if sys.stdin.isatty():
        raise ConfigError("nothing to answer: give instructions as arguments, a --file, or lines on standard input")
    lines = [line.strip() for line in sys.stdin if line.strip()]
    if not lines:
        raise ConfigError("standard input held no instruction (one per line)")
    return [(line, args.input) for line in lines]


def _read_file(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise MissingDataError(f"--file {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if not text.lstrip().startswith("["):
        return [(line.strip(), "") for line in text.splitlines() if line.strip()]
    try:
        records: Any = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--file {path} starts like a JSON list but is not JSON: {err}") from None
    if not all(isinstance(r, dict) and isinstance(r.get("instruction"), str) for r in records):
        raise ConfigError(f"--file {path}: every record must be an object with a string 'instruction'")
    return [(r["instruction"], r.get("input") or "") for r in records]


def _run_template(run_dir: Path | None) -> str | None:
    """The evaluation template the run was tested with (its config.yaml), if there is one."""
    config_file = None if run_dir is None else run_dir / CONFIG_FILE
    if config_file is None or not config_file.is_file():
        return None
    data = (yaml.safe_load(config_file.read_text()) or {}).get("data") or {}
    init_args = data.get("init_args") or {}
    return init_args.get("eval_template") or init_args.get("template")
