"""Evaluation over several test sets, standalone or inside a LightningModule's test loop.

Each set is scored by generation (the paper's protocol: generate a response, read the answer with the task's
rule), by likelihood (each option's log-probability after the prompt, lm-evaluation-harness's ``acc`` and
``acc_norm``, see :mod:`denselora.evaluation.likelihood`), or both (``scoring``).

Standalone::

    result = evaluate(model, tokenizer, eval_sets, output_dir="runs/eval", num_beams=4, scoring="both")

From a LightningModule, with a :class:`~denselora.data.LLMAdaptersDataModule` (whose ``test_dataloader``
yields left-padded batches, longest first, each item on exactly one rank)::

    def on_test_epoch_start(self):
        dm = self.trainer.datamodule
        self.evaluator = Evaluator(dm.eval_sets, dm.tokenizer, output_dir=..., num_beams=4,
                                   rank=self.global_rank, world_size=self.trainer.world_size)

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.evaluator.step(self.model, batch, dataloader_idx)

    def on_test_epoch_end(self):
        result = self.evaluator.finish()  # every rank calls it: it gathers
        # Straight to the loggers, as FineTuner does: self.log would repeat each metric under every test
        # set's dataloader.
        if self.trainer.is_global_zero:
            for logger in self.loggers:
                logger.log_metrics(result.metrics("test"), step=self.global_step)

Outputs under ``output_dir``: ``predictions/<dataset>.jsonl`` (one line per item, in test-file order, with
``index, instruction, gold``; generated: ``completion, prediction, correct``; by likelihood: ``gold_index,
loglikelihoods, choice, choice_norm, correct_choice, correct_choice_norm``), ``results.json`` and ``results.md``
(the tables that are also printed). While a run is in progress, every scored batch is appended to
``predictions/<dataset>.rank<r>.partial.jsonl``, so a crash loses nothing already scored; on one process the
final file is written as soon as a dataset is done (see :mod:`denselora.jsonl`).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torchmetrics.aggregation import MeanMetric
from transformers import PreTrainedTokenizerBase

from denselora.checked_names import checked_name
from denselora.data.eval_sets import EVAL_SETTING, EvalSet, eval_dataloader
from denselora.errors import ConfigError, DataError
from denselora.evaluation.generation import generate_completions
from denselora.evaluation.likelihood import choose, option_loglikelihoods
from denselora.evaluation.results import DatasetResult, EvaluationResult, ItemResult, LikelihoodResult, interval95
from denselora.jsonl import append_rows, partial_path, write_rows
from denselora.run_layout import PREDICTIONS_DIR, RESULTS_JSON_FILE, RESULTS_MARKDOWN_FILE
from denselora.tasks import score

__all__ = ["SCORING_MODES", "Evaluator", "check_scoring", "evaluate"]

#: How ``test`` scores: the paper's generated answers, the options' likelihood, or both.
SCORING_MODES = ("generate", "likelihood", "both")


def _default_rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _file_name(name: str) -> str:
    # Sets built by hand (not through eval_datasets) reach this with any name; the files stay in output_dir.
    return checked_name(name, EVAL_SETTING, "a test-set name that is a plain file name")


class Evaluator:
    """Generates, scores and records evaluation items batch by batch, then summarises.

    Args:
        eval_sets: the test sets, in order; a batch's ``dataset_idx`` is a position in this list.
        tokenizer: the tokenizer the prompts were encoded with.
        output_dir: where predictions and results are written; ``None`` writes nothing.
        num_beams: 4 (beam search, the authors' setting) or 1 (greedy).
        max_new_tokens: overrides every task's generation budget (32 commonsense, 256 math) when set.
        scoring: ``"generate"`` (the paper's protocol: generate, then read the answer with the task's rule),
            ``"likelihood"`` (score each option's log-probability after the set's likelihood prompt, see
            :mod:`denselora.evaluation.likelihood`; every set needs options) or ``"both"`` (each set as it can:
            generation where it has gold answers, likelihood where it has options).
        rank: this process's rank (default: from ``torch.distributed``, else 0).
        world_size: number of processes sharing the items (default: from ``torch.distributed``, else 1).
        print_fn: prints the results table on rank 0 (``None``: silent).
    """

    def __init__(
        self,
        eval_sets: Sequence[EvalSet],
        tokenizer: PreTrainedTokenizerBase,
        output_dir: str | Path | None = None,
        *,
        num_beams: int = 4,
        max_new_tokens: int | None = None,
        scoring: str = "generate",
        rank: int | None = None,
        world_size: int | None = None,
        print_fn: Callable[[str], Any] | None = print,
    ):
        if num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {num_beams}")
        if scoring not in SCORING_MODES:
            raise ConfigError(f"scoring must be one of {', '.join(SCORING_MODES)}, got {scoring!r}")
        default_rank, default_world = _default_rank_and_world()
        self.eval_sets = list(eval_sets)
        self.tokenizer = tokenizer
        self.output_dir = None if output_dir is None else Path(output_dir)
        if self.output_dir is not None:
            for eval_set in self.eval_sets:
                self.predictions_path(eval_set.name)  # refuse a name that leaves output_dir before generating
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens
        self.scoring = scoring
        self.generates = [_generates(eval_set, scoring) for eval_set in self.eval_sets]
        self.scores_options = [_scores_options(eval_set, scoring) for eval_set in self.eval_sets]
        self._likelihood_prompts: list[list[str] | None] = [
            eval_set.likelihood_prompts() if scored else None
            for eval_set, scored in zip(self.eval_sets, self.scores_options, strict=True)
        ]
        self.rank = default_rank if rank is None else rank
        self.world_size = default_world if world_size is None else world_size
        self.print_fn = print_fn
        self._items: list[list[ItemResult]] = [[] for _ in self.eval_sets]
        self._seconds = [0.0 for _ in self.eval_sets]
        self._likelihood_seconds = [0.0 for _ in self.eval_sets]
        # Items of each set that this rank scores (the samplers deal items round-robin over ranks).
        self._expected = [len(range(self.rank, len(eval_set), self.world_size)) for eval_set in self.eval_sets]

    # ------------------------------------------------------------------------------------------------ files
    def predictions_path(self, name: str) -> Path:
        """``<output_dir>/predictions/<name>.jsonl``.

        Raises:
            ConfigError: ``name`` is not a plain file name (it would write outside ``output_dir``).
        """
        assert self.output_dir is not None
        return self.output_dir / PREDICTIONS_DIR / f"{_file_name(name)}.jsonl"

    def _partial_path(self, name: str) -> Path:
        assert self.output_dir is not None
        return partial_path(self.output_dir / PREDICTIONS_DIR, _file_name(name), self.rank)

    def max_new_tokens_for(self, eval_set: EvalSet) -> int:
        return self.max_new_tokens or eval_set.task.max_new_tokens

    # ------------------------------------------------------------------------------------------------- work
    def step(self, model: nn.Module, batch: dict[str, torch.Tensor], dataset_idx: int = 0) -> list[ItemResult]:
        """Score one batch of one test set: generate and read the answers, score the options, or both.

        Args:
            model: the causal LM (in eval mode).
            batch: ``{"input_ids", "attention_mask": LongTensor[batch, length] (left-padded),
                "index": LongTensor[batch]}`` as produced by :func:`denselora.data.eval_dataloader`. Scoring by
                likelihood reads only ``index``: its prompts are the set's likelihood prompts.
            dataset_idx: which of ``eval_sets`` the batch comes from.

        Returns:
            The scored items of the batch.
        """
        eval_set = self.eval_sets[dataset_idx]
        indices = batch["index"].tolist()
        items = [ItemResult(index, eval_set.instructions[index], eval_set.answers[index]) for index in indices]
        if self.generates[dataset_idx]:
            start = time.perf_counter()
            completions = generate_completions(
                model,
                self.tokenizer,
                batch["input_ids"],
                batch["attention_mask"],
                max_new_tokens=self.max_new_tokens_for(eval_set),
                num_beams=self.num_beams,
            )
            for item, completion in zip(items, completions, strict=True):
                outcome = score(eval_set.task, completion, item.gold, prompt=eval_set.prompts[item.index])
                item.completion, item.prediction, item.correct = completion, outcome.prediction, outcome.correct
            self._seconds[dataset_idx] += time.perf_counter() - start
        if self.scores_options[dataset_idx]:
            start = time.perf_counter()
            prompts = self._likelihood_prompts[dataset_idx]
            options = [eval_set.choices[index] for index in indices]
            sums = option_loglikelihoods(
                model, self.tokenizer, [prompts[index] for index in indices], [option.choices for option in options]
            )
            for item, option, loglikelihoods in zip(items, options, sums, strict=True):
                picked = choose(loglikelihoods, option.choices)
                item.gold_index = option.gold
                item.loglikelihoods = list(picked.loglikelihoods)
                item.choice, item.choice_norm = picked.choice, picked.choice_norm
                item.correct_choice = picked.choice == option.gold
                item.correct_choice_norm = picked.choice_norm == option.gold
            self._likelihood_seconds[dataset_idx] += time.perf_counter() - start
        self._items[dataset_idx].extend(items)

        if self.output_dir is not None:
            append_rows(self._partial_path(eval_set.name), [item.to_dict() for item in items])
            if self.world_size == 1 and len(self._items[dataset_idx]) == self._expected[dataset_idx]:
                self._write_final(eval_set, [item.to_dict() for item in self._items[dataset_idx]])
        return items

    def _write_final(self, eval_set: EvalSet, rows: list[dict[str, Any]]) -> None:
        rows = sorted(rows, key=lambda row: row["index"])
        write_rows(self.predictions_path(eval_set.name), rows)
        if self.world_size == 1:
            self._partial_path(eval_set.name).unlink(missing_ok=True)

    def _gather(self) -> list[tuple[list[list[dict[str, Any]]], list[float]]]:
        local = (
            [[item.to_dict() for item in items] for items in self._items],
            list(zip(self._seconds, self._likelihood_seconds, strict=True)),
        )
        if self.world_size == 1:
            return [local]
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError(f"world_size={self.world_size} but torch.distributed is not initialized")
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, local)
        return gathered

    def finish(self) -> EvaluationResult:
        """Gather all ranks' items, compute accuracies, write the files (rank 0) and print the table.

        Under DDP every rank must call it (it gathers); every rank gets the same result.

        Raises:
            RuntimeError: an item was scored more than once (a sampler padded the shards with repeats).
        """
        gathered = self._gather()
        results = []
        for dataset_idx, eval_set in enumerate(self.eval_sets):
            by_index: dict[int, dict[str, Any]] = {}
            for rank_items, _ in gathered:
                for row in rank_items[dataset_idx]:
                    if row["index"] in by_index:
                        raise RuntimeError(
                            f"{eval_set.name}: item {row['index']} was scored twice. The test data "
                            "loader repeats items (torch's DistributedSampler pads shards with repeats); use "
                            "the data module's test_dataloader or denselora.data.eval_dataloader."
                        )
                    by_index[row["index"]] = row
            rows = [by_index[index] for index in sorted(by_index)]
            if len(rows) < len(eval_set):
                warnings.warn(
                    f"{eval_set.name}: only {len(rows)} of {len(eval_set)} items were scored "
                    "(limited test batches?); its accuracy covers those items only.",
                    stacklevel=2,
                )
            seconds = max(rank_seconds[dataset_idx][0] for _, rank_seconds in gathered)
            likelihood_seconds = max(rank_seconds[dataset_idx][1] for _, rank_seconds in gathered)
            generated = self.generates[dataset_idx]
            likelihood = None
            if self.scores_options[dataset_idx]:
                correct = sum(bool(row["correct_choice"]) for row in rows)
                correct_norm = sum(bool(row["correct_choice_norm"]) for row in rows)
                likelihood = LikelihoodResult(
                    acc=_mean([row["correct_choice"] for row in rows]),
                    acc_norm=_mean([row["correct_choice_norm"] for row in rows]),
                    correct=correct,
                    correct_norm=correct_norm,
                    scored=len(rows),
                    seconds=likelihood_seconds,
                    items_per_second=len(rows) / likelihood_seconds if likelihood_seconds > 0 else math.nan,
                    acc_interval=interval95(correct, len(rows)),
                    acc_norm_interval=interval95(correct_norm, len(rows)),
                )
            results.append(
                DatasetResult(
                    name=eval_set.name,
                    accuracy=_mean([row["correct"] for row in rows]) if generated else math.nan,
                    correct=sum(bool(row["correct"]) for row in rows) if generated else 0,
                    scored=len(rows),
                    total=len(eval_set),
                    seconds=seconds,
                    items_per_second=len(rows) / seconds if seconds > 0 else math.nan,
                    max_new_tokens=self.max_new_tokens_for(eval_set) if generated else 0,
                    rule=eval_set.task.rule.name if generated else "likelihood",
                    answered=sum(row["prediction"] is not None for row in rows) if generated else 0,
                    generated=generated,
                    likelihood=likelihood,
                )
            )
            if self.rank == 0 and self.output_dir is not None:
                self._write_final(eval_set, rows)

        templates = sorted({eval_set.template for eval_set in self.eval_sets})
        result = EvaluationResult(
            results, self.num_beams, ",".join(templates), self.world_size, extra={"scoring": self.scoring}
        )
        if self.rank == 0:
            if self.output_dir is not None:
                self.output_dir.mkdir(parents=True, exist_ok=True)
                (self.output_dir / RESULTS_JSON_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
                (self.output_dir / RESULTS_MARKDOWN_FILE).write_text(result.to_markdown() + "\n")
            if self.print_fn is not None:
                self.print_fn(result.to_markdown())
        if self.world_size > 1:
            dist.barrier()  # the merged files exist before the partial ones go
        if self.output_dir is not None:
            for eval_set in self.eval_sets:
                self._partial_path(eval_set.name).unlink(missing_ok=True)
        return result


def _mean(values: list[Any]) -> float:
    """The mean of 0/1 outcomes in float64; NaN for none. The items were gathered by index already, so the metric
    must not sync across ranks again."""
    if not values:
        return math.nan
    metric = MeanMetric(sync_on_compute=False)
    metric.update(torch.tensor([float(bool(value)) for value in values], dtype=torch.float64))
    return float(metric.compute())


def _generates(eval_set: EvalSet, scoring: str) -> bool:
    """Whether ``scoring`` generates for ``eval_set``; a set that only likelihood can score refuses ``generate``."""
    if scoring == "likelihood":
        return False
    if eval_set.task is None:
        if scoring == "generate":
            raise DataError(
                f"test set {eval_set.name!r} has no gold 'answer' to read a generated response against, only "
                "'choices' and 'gold': score it with model.init_args.scoring likelihood (or both)"
            )
        return False
    return True


def _scores_options(eval_set: EvalSet, scoring: str) -> bool:
    """Whether ``scoring`` scores ``eval_set``'s options; ``likelihood`` refuses a set without options."""
    if scoring == "generate":
        return False
    if eval_set.choices is None:
        if scoring == "likelihood":
            raise DataError(f"test set {eval_set.name!r} cannot be scored by likelihood: {eval_set.choices_problem}")
        return False
    return True


def check_scoring(eval_sets: Sequence[EvalSet], scoring: str) -> None:
    """Raise now what :class:`Evaluator` would raise at the first test batch: an unknown ``scoring``, a set that
    ``likelihood`` cannot score (no options), a set that ``generate`` cannot score (no gold answers).

    Raises:
        ConfigError: ``scoring`` is not one of :data:`SCORING_MODES`.
        DataError: naming the set and the setting that would score it.
    """
    if scoring not in SCORING_MODES:
        raise ConfigError(f"scoring must be one of {', '.join(SCORING_MODES)}, got {scoring!r}")
    for eval_set in eval_sets:
        _generates(eval_set, scoring)
        _scores_options(eval_set, scoring)


def evaluate(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    eval_sets: Sequence[EvalSet],
    output_dir: str | Path | None = None,
    *,
    batch_size: int = 16,
    num_beams: int = 4,
    max_new_tokens: int | None = None,
    scoring: str = "generate",
    num_workers: int = 0,
    rank: int | None = None,
    world_size: int | None = None,
    print_fn: Callable[[str], Any] | None = print,
) -> EvaluationResult:
    """Evaluate ``model`` on ``eval_sets`` (see :class:`Evaluator` for the arguments and outputs).

    Under ``torch.distributed`` each process evaluates its share of every set and all get the result.
    The model is put in eval mode for the run and restored afterwards.
    """
    evaluator = Evaluator(
        eval_sets,
        tokenizer,
        output_dir,
        num_beams=num_beams,
        max_new_tokens=max_new_tokens,
        scoring=scoring,
        rank=rank,
        world_size=world_size,
        print_fn=print_fn,
    )
    was_training = model.training
    model.eval()
    try:
        for dataset_idx, eval_set in enumerate(evaluator.eval_sets):
            loader = eval_dataloader(
                eval_set,
                tokenizer.pad_token_id,
                batch_size,
                evaluator.rank,
                evaluator.world_size,
                num_workers,
            )
            for batch in loader:
                evaluator.step(model, batch, dataset_idx)
        return evaluator.finish()
    finally:
        model.train(was_training)
