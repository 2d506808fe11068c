"""Framework overhead: Lightning's Trainer with denselora's FineTuner, data module and Evaluator, against bare loops.

    python -m benchmarks.framework_overhead --data-dir /path/to/LLM-Adapters     # SmolLM2-135M-Instruct, CPU
    DENSELORA_DATA_DIR=/path/to/LLM-Adapters python -m benchmarks.framework_overhead --eval-items 32
    python -m benchmarks.framework_overhead --model tiny                         # a tiny random LLaMA, seconds

What the framework costs on top of the work it drives, on a real pretrained model on a CPU, measured in one
process, framework and bare run alternating within each round:

- training, in tokens per second: ``Trainer.fit`` of :class:`denselora.training.FineTuner` with the data module
  for ``--steps`` optimizer steps, against a plain loop over the same adapted model object and the same batches
  (forward, backward, gradient clipping at 1.0, ``AdamW.step``, ``LambdaLR.step``, ``zero_grad``). Tokens are
  the sum of ``attention_mask`` over the timed batches. Both time the steady state: the first
  ``--untimed-steps`` steps are skipped, and the framework's window runs from ``on_train_batch_start`` of the
  first timed step to ``on_train_batch_end`` of the last, so start-up (model build, tokenization, the Trainer's
  set-up) counts for neither. The bare loop reads batches collated beforehand, so collating them (the data
  module's work) counts as framework cost;
- evaluation, in items per second: ``Trainer.test`` of the same module (the :class:`denselora.evaluation.Evaluator`
  generating, decoding, scoring and writing predictions) against bare greedy ``model.generate`` over the same
  left-padded prompt batches, from the first batch's start to the last batch's end.

Settings mirror ``lightning_configs/smollm2_commonsense.yaml`` (its adapter, optimiser, template and training
files; evaluation on ARC-Easy, greedy), with validation and checkpointing off and the TensorBoard logger on.
Prints the median throughput per variant, its ratio to the bare loop (below 1: the framework is slower), and
what the framework adds per token and per item.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from benchmarks.common import SHAPES, device_name
from denselora.training.loss import causal_lm_loss
from denselora.training.schedule import warmup_then_linear_decay

RECIPE_FILE = Path(__file__).resolve().parents[1] / "lightning_configs" / "smollm2_commonsense.yaml"


def read_recipe(path: Path = RECIPE_FILE) -> dict[str, Any]:
    """The settings of the real-model recipe that shape the measured work, read from its YAML."""
    import yaml

    config = yaml.safe_load(path.read_text())
    model, data = config["model"]["init_args"], config["data"]["init_args"]
    return {
        "adapter": model["adapter"]["init_args"],
        "learning_rate": model["learning_rate"],
        "warmup_steps": model["warmup_steps"],
        "gradient_clip_val": config["trainer"]["gradient_clip_val"],
        **{key: data[key] for key in ("train_file", "template", "cutoff_len", "train_on_inputs", "val_size")},
    }


RECIPE: dict[str, Any] = read_recipe()
#: The real model's test set: one set keeps the batches full (the recipe evaluates four sets of 200 items).
REAL_EVAL_DATASET = "ARC-Easy"
#: The benchmarks' ``tiny`` LLaMA shape, its vocabulary the tokenizer's: only checks that the script runs.
TINY_MODEL: dict[str, Any] = {
    "model_type": "llama",
    "max_position_embeddings": 256,
    **{key: value for key, value in SHAPES["tiny"].items() if key != "vocab_size"},
}
TINY_TOKENIZER = "denselora/tiny"
DATA_DIR_ENV = "DENSELORA_DATA_DIR"
MEASUREMENTS = {"training": "tokens/s", "evaluation": "items/s"}
VARIANTS: dict[str, str] = {
    "framework": "Lightning Trainer.fit / Trainer.test of FineTuner with the data module (TensorBoard logger on, "
    "validation and checkpointing off); the Evaluator decodes, scores and writes predictions",
    "bare": "the same model object and the same batches in a plain PyTorch loop / bare model.generate",
}


@dataclass
class Throughput:
    """One variant's samples of one measurement, one per round.

    Attributes:
        counts: what each round processed in its timed window (tokens or items), per batch.
        seconds: each round's timed wall-clock seconds.
    """

    counts: list[list[int]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, counts: list[int], seconds: float) -> None:
        self.counts.append(counts)
        self.seconds.append(seconds)

    @property
    def totals(self) -> list[int]:
        return [sum(counts) for counts in self.counts]

    @property
    def rates(self) -> list[float]:
        return [total / seconds for total, seconds in zip(self.totals, self.seconds, strict=True)]

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


@dataclass
class Comparison:
    """The framework against the bare loop on one measurement."""

    unit: str
    framework: Throughput = field(default_factory=Throughput)
    bare: Throughput = field(default_factory=Throughput)

    @property
    def ratio(self) -> float:
        """Framework throughput over bare throughput: below 1, the framework is slower."""
        return self.framework.median / self.bare.median

    def variants(self) -> dict[str, Throughput]:
        return {"framework": self.framework, "bare": self.bare}


class LoopTimer(Callback):
    """Times the Trainer's steady-state loop and counts what it processed.

    Training: from ``on_train_batch_start`` of step ``first_timed_step`` to ``on_train_batch_end`` of the
    last step, counting each timed batch's tokens (the sum of its ``attention_mask``). The window misses
    what Lightning does after the last batch's callbacks (the module's own ``on_train_batch_end``, logging,
    the scheduler) and before the first timed batch's, i.e. one step's worth of between-batch work: the
    overhead it shows is low by at most that share of one step.

    Testing: from the first batch's ``on_test_batch_start`` to the last batch's ``on_test_batch_end``, over
    every test loader, counting items.
    """

    def __init__(self, first_timed_step: int = 0) -> None:
        self.first_timed_step = first_timed_step
        self.start: float | None = None
        self.end: float | None = None
        self.counts: list[int] = []

    @property
    def seconds(self) -> float:
        if self.start is None or self.end is None:
            raise RuntimeError("the Trainer ran no timed batch; raise --steps or check the data")
        return self.end - self.start

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.first_timed_step:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx >= self.first_timed_step:
            self.end = time.perf_counter()  # first: the count below is bookkeeping, not the framework's work
            self.counts.append(int(batch["attention_mask"].sum()))

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.start is None:
            self.start = time.perf_counter()

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.end = time.perf_counter()
        self.counts.append(len(batch["index"]))


# ------------------------------------------------------------------------------------------------------- set-up
def build_module(args: argparse.Namespace):
    """The FineTuner the recipe describes, for the real model or the tiny one (model not built yet)."""
    from denselora.methods import DenseLoRA
    from denselora.models import SMOLLM2_135M_INSTRUCT
    from denselora.training import FineTuner

    if args.model == "tiny":
        source = {"model_config": TINY_MODEL, "tokenizer": TINY_TOKENIZER}
    else:
        source = {"pretrained": SMOLLM2_135M_INSTRUCT, "tokenizer": SMOLLM2_135M_INSTRUCT}
    return FineTuner(
        adapter=DenseLoRA(**RECIPE["adapter"]),
        learning_rate=RECIPE["learning_rate"],
        warmup_steps=RECIPE["warmup_steps"],
        num_beams=1,
        max_new_tokens=args.max_new_tokens,
        **source,
    )


def build_datamodule(args: argparse.Namespace, data_dir: Path):
    """The data module: the recipe's training files and ARC-Easy, or the quickstart's synthetic sets (tiny).

    Args:
        args: the parsed arguments (``model``, ``steps``, ``micro_batch``, ``eval_items``, ``eval_batch``).
        data_dir: an LLM-Adapters tree; for ``tiny``, where the synthetic sets are written if missing.
    """
    common = dict(
        eval_limit=args.eval_items,
        template=RECIPE["template"],
        train_on_inputs=RECIPE["train_on_inputs"],
        micro_batch_size=args.micro_batch,
        eval_batch_size=args.eval_batch,
    )
    if args.model == "tiny":
        from denselora.quickstart.datamodule import QuickstartDataModule

        val_size = 8
        return QuickstartDataModule(
            str(data_dir),
            # Enough records for the steps in one epoch: a second epoch would reshuffle, and the bare loop
            # replays the first epoch's batches.
            train_size=(args.steps + 1) * args.micro_batch + val_size,
            test_size=args.eval_items,
            tokenizer=TINY_TOKENIZER,
            cutoff_len=128,
            val_size=val_size,
            **common,
        )
    from denselora.data import CommonsenseDataModule
    from denselora.models import SMOLLM2_135M_INSTRUCT

    return CommonsenseDataModule(
        str(data_dir),
        train_file=list(RECIPE["train_file"]),
        eval_datasets=[REAL_EVAL_DATASET],
        tokenizer=SMOLLM2_135M_INSTRUCT,
        cutoff_len=RECIPE["cutoff_len"],
        val_size=RECIPE["val_size"],
        **common,
    )


def make_trainer(root: Path, timer: LoopTimer, max_steps: int = -1) -> L.Trainer:
    """A fresh Trainer as the recipe configures it, less what this measurement leaves out."""
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        precision="32-true",
        max_steps=max_steps,
        gradient_clip_val=RECIPE["gradient_clip_val"],
        log_every_n_steps=10,
        limit_val_batches=0,  # validation is not what is measured
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,  # start-up only, and a table per round in the output
        logger=TensorBoardLogger(save_dir=str(root / "runs"), name="framework-overhead"),
        default_root_dir=str(root),
        callbacks=[timer],
    )


def take(batches: Iterable[dict[str, torch.Tensor]], count: int) -> list[dict[str, torch.Tensor]]:
    """The first ``count`` batches of a loader."""
    taken = []
    for batch in batches:
        if len(taken) == count:
            break
        taken.append(batch)
    return taken


def prompt_batches_of(datamodule) -> list[dict[str, torch.Tensor]]:
    """Every prompt batch of every test loader, in the order ``Trainer.test`` visits them."""
    loaders = datamodule.test_dataloader()
    if not isinstance(loaders, list | tuple):
        loaders = [loaders]
    return [batch for loader in loaders for batch in loader]


# ------------------------------------------------------------------------------------------------------ variants
def framework_fit(module, datamodule, root: Path, steps: int, untimed: int) -> tuple[list[int], float]:
    """``Trainer.fit`` for ``steps`` steps: per-step tokens of the timed steps, and their seconds."""
    timer = LoopTimer(first_timed_step=untimed)
    make_trainer(root, timer, max_steps=steps).fit(module, datamodule=datamodule)
    return timer.counts, timer.seconds


def bare_fit(model: nn.Module, batches: list[dict[str, torch.Tensor]], untimed: int) -> tuple[list[int], float]:
    """What ``Trainer.fit`` does per step, in a plain loop over pre-collated ``batches``.

    The same loss as ``FineTuner.compute_loss`` (the LM head at the learned positions only), and a fresh
    optimizer and schedule, as every ``Trainer.fit`` configures its own.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=RECIPE["learning_rate"], weight_decay=0.0)
    # The run's length is max_steps, which is what FineTuner's schedule reads from the Trainer.
    scheduler = LambdaLR(optimizer, lambda step: warmup_then_linear_decay(step, RECIPE["warmup_steps"], len(batches)))
    model.train()  # dropout on, as in fit
    start = time.perf_counter()
    for index, batch in enumerate(batches):
        if index == untimed:
            start = time.perf_counter()
        loss = causal_lm_loss(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, RECIPE["gradient_clip_val"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    seconds = time.perf_counter() - start
    return [int(batch["attention_mask"].sum()) for batch in batches[untimed:]], seconds


def framework_test(module, datamodule, root: Path) -> tuple[list[int], float]:
    """``Trainer.test`` over every test loader: items per batch, and the generation loop's seconds."""
    timer = LoopTimer()
    make_trainer(root, timer).test(module, datamodule=datamodule, verbose=False)
    return timer.counts, timer.seconds


def bare_generate(
    model: nn.Module, tokenizer, batches: list[dict[str, torch.Tensor]], max_new_tokens: int
) -> tuple[list[int], float]:
    """Greedy ``model.generate`` over the prompt batches: items per batch, and the loop's seconds."""
    was_training = model.training
    model.eval()  # as Trainer.test puts it: no dropout
    counts = []
    try:
        with torch.inference_mode():  # what Trainer.test runs its loop under
            start = time.perf_counter()
            for batch in batches:
                model.generate(
                    input_ids=batch["input_ids"],
                    attention_mask=batch["attention_mask"],
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
                counts.append(batch["input_ids"].size(0))
            seconds = time.perf_counter() - start
    finally:
        model.train(was_training)
    return counts, seconds


def alternate(rounds: int, runs: dict[str, Callable[[], tuple[list[int], float]]], comparison: Comparison) -> None:
    """Run both variants once per round, swapping which goes first, and check they processed the same."""
    names = list(runs)
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            counts, seconds = runs[name]()
            getattr(comparison, name).add(counts, seconds)
        framework, bare = comparison.framework.counts[-1], comparison.bare.counts[-1]
        if framework != bare:
            # Otherwise the ratio would compare different work: a changed sampler, a second epoch, a lost batch.
            raise RuntimeError(
                f"round {round_index}: the framework processed {framework} {comparison.unit.split('/')[0]} per "
                f"batch, the bare loop {bare}; they must see the same batches"
            )


# ------------------------------------------------------------------------------------------------------- report
def format_table(results: dict[str, Comparison]) -> str:
    """A Markdown table: median throughput, ratio to the bare loop, spread and what each round processed."""
    header = ["measurement", "variant", "median", "vs bare", "min-max", "per round"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for measurement, comparison in results.items():
        for variant, throughput in comparison.variants().items():
            row = [
                f"{measurement} {comparison.unit}",
                variant,
                f"{throughput.median:.4g}",
                f"{throughput.median / comparison.bare.median:.3f}",
                f"{min(throughput.rates):.4g}-{max(throughput.rates):.4g}",
                f"{statistics.median(throughput.totals):g} {comparison.unit.split('/')[0]}",
            ]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def overhead_line(measurement: str, comparison: Comparison) -> str:
    """How much more wall time per token (or item) the framework spends: ``1 / ratio - 1``."""
    per = comparison.unit.split("/")[0].rstrip("s")
    extra = 1 / comparison.ratio - 1 if comparison.ratio > 0 and math.isfinite(comparison.ratio) else math.nan
    return f"  {measurement}: the framework takes {extra * 100:+.1f} % time per {per} against the bare loop"


def main(argv: list[str] | None = None) -> dict[str, Comparison]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.framework_overhead", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        choices=["real", "tiny"],
        default="real",
        help="real: SmolLM2-135M-Instruct (denselora.models.SMOLLM2_135M_INSTRUCT); tiny: a random 2-layer LLaMA "
        "on the quickstart's synthetic data, to check the script (default: real)",
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get(DATA_DIR_ENV),
        help=f"an LLM-Adapters tree (default: ${DATA_DIR_ENV}); for tiny, where the synthetic sets are written "
        "(default: a temporary folder)",
    )
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per training run (default 10)")
    parser.add_argument(
        "--untimed-steps", type=int, default=2, help="warm-up steps at the start of each run, not timed (default 2)"
    )
    parser.add_argument("--micro-batch", type=int, default=8, help="training batch size (the recipe's 8)")
    parser.add_argument("--eval-items", type=int, default=64, help="items per test set (eval_limit; default 64)")
    parser.add_argument("--eval-batch", type=int, default=32, help="prompts per generation batch (the recipe's 32)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="generation budget (commonsense: 32)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are over rounds")
    args = parser.parse_args(argv)
    if not 0 <= args.untimed_steps < args.steps:
        parser.error("--untimed-steps must be at least 0 and below --steps")
    if args.model == "real" and not args.data_dir:
        parser.error(f"the real model needs --data-dir or ${DATA_DIR_ENV}: an LLM-Adapters tree")
    for name in ("micro_batch", "eval_items", "eval_batch", "max_new_tokens", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")

    with tempfile.TemporaryDirectory(prefix="denselora-framework-overhead-") as scratch:
        root = Path(scratch)
        data_dir = Path(args.data_dir) if args.data_dir else root / "data"
        module = build_module(args)
        datamodule = build_datamodule(args, data_dir)
        # Built once: every round's Trainer finds module.model set and reuses it, as the bare loops do.
        module.configure_model()
        model = module.model
        loader = datamodule.train_dataloader()
        if len(loader) < args.steps:
            raise SystemExit(f"{len(loader)} training batches in an epoch, fewer than --steps {args.steps}")
        # The batches the first epoch yields, which every fresh Trainer replays (the sampler is seeded by epoch).
        train_batches = take(loader, args.steps)
        prompt_batches = prompt_batches_of(datamodule)

        results = {name: Comparison(unit) for name, unit in MEASUREMENTS.items()}
        alternate(
            args.rounds,
            {
                "framework": lambda: framework_fit(module, datamodule, root, args.steps, args.untimed_steps),
                "bare": lambda: bare_fit(model, train_batches, args.untimed_steps),
            },
            results["training"],
        )
        # Untimed: the first generate call pays one-off costs that would fall on whichever variant ran first.
        bare_generate(model, datamodule.tokenizer, prompt_batches[:1], 2)
        # After all the training rounds: both variants generate with the same weights, so the same tokens.
        alternate(
            args.rounds,
            {
                "framework": lambda: framework_test(module, datamodule, root),
                "bare": lambda: bare_generate(model, datamodule.tokenizer, prompt_batches, args.max_new_tokens),
            },
            results["evaluation"],
        )

    timed = args.steps - args.untimed_steps
    title = (
        f"framework overhead, {'SmolLM2-135M-Instruct' if args.model == 'real' else 'tiny random LLaMA'}, "
        f"DenseLoRA r={RECIPE['adapter']['r']} on {','.join(RECIPE['adapter']['target_modules'])}, float32, "
        f"on {device_name(torch.device('cpu'))}\n"
        f"training: {args.steps} steps of micro-batch {args.micro_batch} ({timed} timed), AdamW, clipping at "
        f"{RECIPE['gradient_clip_val']}; evaluation: {sum(results['evaluation'].bare.counts[0])} items in batches "
        f"of {args.eval_batch}, greedy, {args.max_new_tokens} new tokens at most; {args.rounds} rounds"
    )
    print(title)
    print(format_table(results))
    for name, description in VARIANTS.items():
        print(f"  {name}: {description}")
    for measurement, comparison in results.items():
        print(overhead_line(measurement, comparison))
    return results


if __name__ == "__main__":
    main()
