"""What a :class:`~denselora.training.FineTuner` does besides training: validation's scored answers, ``test`` and
``predict``, each handed to :mod:`denselora.evaluation`, which builds the rows and scores them in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lightning as L
from torch import Tensor

from denselora.data.protocol import EvaluationData, PredictionData, ValidationGenerationData, required
from denselora.distributed import reshard
from denselora.evaluation.answers import prediction_rows, validation_answers_correct
from denselora.evaluation.evaluator import Evaluator
from denselora.run_layout import EVALUATION_DIR

if TYPE_CHECKING:
    from pathlib import Path

    from torch import nn
    from torchmetrics.aggregation import MeanMetric

__all__ = ["EvaluationSteps"]


class EvaluationSteps(L.LightningModule):
    """The evaluation hooks of a fine-tuning module.

    The module provides ``model`` (the adapted model), ``tokenizer``, ``val_accuracy`` (a ``MeanMetric``),
    ``run_dir``, ``num_beams``, ``max_new_tokens`` and ``scoring``. Overridable: :meth:`start_evaluation`,
    :meth:`evaluate_batch` and :meth:`summarise_evaluation` (what ``test`` does) and :meth:`log_test_metrics`
    (a summary logged once rather than once per test set). The data module's parts are read through
    :mod:`denselora.data.protocol` (``val_prompts``, ``eval_sets``, ``predict_set``), only by the hooks a subclass
    keeps.
    """

    model: nn.Module | None
    val_accuracy: MeanMetric
    num_beams: int
    max_new_tokens: int | None
    scoring: str
    run_dir: Path | None
    _evaluator: Evaluator | None = None
    _results_table: str | None = None

    # ------------------------------------------------------------------------------------------ validation
    def validate_generation(self, batch: dict[str, Tensor]) -> None:
        """Greedy answers to a batch of the loader the data module names for it
        (:class:`~denselora.data.protocol.ValidationGenerationData`), scored into ``val/accuracy``."""
        prompts = required(
            self.trainer.datamodule,
            "val_prompts",
            ValidationGenerationData,
            "FineTuner's default validation_step, on the loader at val_generation_dataloader_idx,",
            "make val_generation_dataloader_idx None (every validation loader is then scored by its loss)",
        )
        for correct in validation_answers_correct(self.model, self.tokenizer, batch, prompts, self.max_new_tokens):
            self.val_accuracy.update(float(correct))

    def on_validation_epoch_end(self) -> None:
        reshard(self.model)  # FSDP: back to the shards the optimizer owns before training or saving resumes
        if self.val_accuracy.update_called:
            self.log("val/accuracy", self.val_accuracy.compute(), prog_bar=True)
        self.val_accuracy.reset()

    # ------------------------------------------------------------------------------------------------ test
    def on_test_epoch_start(self) -> None:
        self._evaluator = None
        self._results_table = None
        self.start_evaluation()

    def start_evaluation(self) -> None:
        """Prepare for a test run (override to reset a subclass's own counters). The default needs nothing
        here: its :class:`~denselora.evaluation.Evaluator` is made on the first batch, so a subclass that
        overrides :meth:`evaluate_batch` and :meth:`summarise_evaluation` never reads the data module's
        ``eval_sets``."""

    @property
    def evaluator(self) -> Evaluator:
        """The test run's :class:`~denselora.evaluation.Evaluator`, made on first use."""
        if self._evaluator is None:
            self._evaluator = self.make_evaluator()
        return self._evaluator

    def make_evaluator(self) -> Evaluator:
        eval_sets = required(
            self.trainer.datamodule,
            "eval_sets",
            EvaluationData,
            "FineTuner's default evaluation",
            "override evaluate_batch and summarise_evaluation in a subclass",
        )
        output_dir = None if self.run_dir is None else self.run_dir / EVALUATION_DIR
        return Evaluator(
            eval_sets,
            self.tokenizer,
            output_dir=output_dir,
            num_beams=self.num_beams,
            max_new_tokens=self.max_new_tokens,
            scoring=self.scoring,
            rank=self.global_rank,
            world_size=self.trainer.world_size,
            print_fn=None,  # printed once the progress bar is gone (teardown), not into it
        )

    def test_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluate_batch(batch, dataloader_idx)

    def evaluate_batch(self, batch: dict[str, Tensor], dataloader_idx: int) -> None:
        """Generate and score one test batch (override for a task scored differently)."""
        self.evaluator.step(self.model, batch, dataloader_idx)

    def on_test_epoch_end(self) -> None:
        self.summarise_evaluation()

    def summarise_evaluation(self) -> None:
        """Gather, print and write the evaluation; log per-dataset accuracy and the mean."""
        result = self.evaluator.finish()
        self._evaluator = None
        self._results_table = result.to_markdown()
        self.log_test_metrics(result.metrics("test"))

    def log_test_metrics(self, metrics: dict[str, float]) -> None:
        """Log a test run's metrics once, straight to the loggers (rank 0 only; every rank may call it).

        ``self.log`` from :meth:`summarise_evaluation` (``on_test_epoch_end``) would record each metric once
        per test set, because Lightning files epoch-end metrics under every test dataloader.
        """
        if self.trainer.is_global_zero:
            for logger in self.loggers:
                logger.log_metrics(metrics, step=self.global_step)
            if self._results_table is None:  # a task of one's own: its metrics, printed as the built-in table is
                rows = [f"| {name} | {value:.4g} |" for name, value in metrics.items()]
                self._results_table = "\n".join(["| metric | value |", "|---|---:|", *rows])

    def teardown(self, stage: str) -> None:
        # After the progress bar's own teardown: the table gets lines of its own, not the bar's.
        table, self._results_table = self._results_table, None
        if table is not None and self._trainer is not None and self.trainer.is_global_zero:
            print(table, flush=True)

    # ------------------------------------------------------------------------------------------ prediction
    def predict_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> list[dict]:
        """Answer a batch of the data module's ``predict_set``: one row per record (see
        :func:`~denselora.evaluation.answers.prediction_rows`), which
        :class:`~denselora.callbacks.PredictionWriter` writes to ``<run>/predictions/<file>.jsonl``."""
        predict_set = required(
            self.trainer.datamodule,
            "predict_set",
            PredictionData,
            "FineTuner's default predict_step",
            "override predict_step in a subclass",
        )
        return prediction_rows(self.model, self.tokenizer, batch, predict_set, self.max_new_tokens, self.num_beams)
