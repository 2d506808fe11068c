"""Scoring benchmark: items per second of ``test`` by likelihood against generation, on the same items.

    python -m benchmarks.scoring --data-dir /path/to/LLM-Adapters --dataset ARC-Easy --items 128
    python -m benchmarks.scoring --model runs/my-model --tokenizer runs/my-model --data-dir ... --dataset piqa

Each mode runs the evaluator (:func:`denselora.evaluation.evaluate`) over the same first ``--items`` items of
one test set, with the same model (the frozen base: an untrained adapter changes no output) and batch size;
generation with the dataset's budget (32 new tokens for a commonsense set), greedy and with 4 beams. Modes are
interleaved round by round in one process, and the table gives the median items/s and each mode's speed
relative to scoring by likelihood.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from denselora.data import load_eval_set
from denselora.evaluation import evaluate
from denselora.models import SMOLLM2_135M_INSTRUCT, base_model_from_spec, load_tokenizer

MODES = {
    "likelihood": {"scoring": "likelihood", "num_beams": 1},
    "greedy": {"scoring": "generate", "num_beams": 1},
    "4 beams": {"scoring": "generate", "num_beams": 4},
}


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scoring", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=SMOLLM2_135M_INSTRUCT, help="a model.pretrained spec (default SmolLM2)")
    parser.add_argument("--tokenizer", default=None, help="a tokenizer spec (default: the model's)")
    parser.add_argument("--data-dir", required=True, help="an LLM-Adapters folder (dataset/<name>/test.json)")
    parser.add_argument("--dataset", default="ARC-Easy", help="the test set (default ARC-Easy)")
    parser.add_argument("--items", type=int, default=128, help="its first N items (default 128)")
    parser.add_argument("--batch", type=int, default=32, help="items per batch (default 32, the recipe's)")
    parser.add_argument("--template", default="alpaca")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args(argv)

    tokenizer = load_tokenizer(args.tokenizer or args.model)
    source = base_model_from_spec(args.model)
    source.prepare()
    model = source.build(None, tokenizer).eval()
    eval_set = load_eval_set(args.data_dir, args.dataset, tokenizer, args.template, limit=args.items)

    rates: dict[str, list[float]] = {mode: [] for mode in args.modes}
    accuracy: dict[str, float] = {}
    for round_index in range(args.rounds):
        order = args.modes[round_index % len(args.modes) :] + args.modes[: round_index % len(args.modes)]
        for mode in order:
            start = time.perf_counter()
            result = evaluate(model, tokenizer, [eval_set], None, batch_size=args.batch, print_fn=None, **MODES[mode])
            rates[mode].append(len(eval_set) / (time.perf_counter() - start))
            dataset = result.datasets[0]
            accuracy[mode] = dataset.likelihood.acc if dataset.likelihood is not None else dataset.accuracy

    threads = torch.get_num_threads()
    print(
        f"scoring {len(eval_set)} items of {args.dataset}, {args.model}, batch {args.batch}, {args.rounds} rounds, "
        f"{threads} thread(s) on {platform.processor() or platform.machine()}"
    )
    reference = statistics.median(rates[args.modes[0]])
    print(f"| mode | items/s (median) | min-max | vs {args.modes[0]} | accuracy (%) |")
    print("|---|---:|---:|---:|---:|")
    for mode, values in rates.items():
        median = statistics.median(values)
        print(
            f"| {mode} | {median:.2f} | {min(values):.2f}-{max(values):.2f} | {median / reference:.2f}x "
            f"| {100 * accuracy[mode]:.1f} |"
        )
    print("accuracy: acc for likelihood, the answer rule's for generation (the same items)")
    return rates


if __name__ == "__main__":
    main()
