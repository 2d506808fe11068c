"""Evaluation results: per-item records, per-dataset accuracy, the summary table and JSON.

A test set is scored by generation (the paper's protocol: the answer rule reads a generated response), by
likelihood (the option with the highest log-probability, lm-evaluation-harness's ``acc`` and ``acc_norm``), or
both; each result holds what its run measured.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DatasetResult", "EvaluationResult", "ItemResult", "LikelihoodResult", "interval95"]

#: The normal quantile of a two-sided 95 % interval.
Z95 = 1.959964

_GENERATION_FIELDS = ("completion", "prediction", "correct")
_GENERATION_RESULT_FIELDS = ("accuracy", "correct", "seconds", "items_per_second", "max_new_tokens", "answered")
_LIKELIHOOD_FIELDS = ("gold_index", "loglikelihoods", "choice", "choice_norm", "correct_choice", "correct_choice_norm")


@dataclass
class ItemResult:
    """One scored item; a line of the predictions JSONL file.

    The generation fields are there when the item was generated for, the likelihood fields when its options were
    scored; :meth:`to_dict` leaves out the group that was not measured.

    Attributes:
        index: position of the item in its ``test.json``.
        instruction: the record's instruction.
        gold: the record's ``answer`` (``None`` for a record that gives ``choices`` and ``gold`` only).
        completion: the generated text after the prompt, as decoded.
        prediction: what the answer rule extracted (label, number or letter); ``None`` if nothing matched.
        correct: whether the prediction matches the gold answer.
        gold_index: the index of the right option.
        loglikelihoods: each option's summed log-probability after the likelihood prompt.
        choice: the option ``acc`` picks (highest sum); ``choice_norm``: the one ``acc_norm`` picks (per character).
        correct_choice, correct_choice_norm: whether those are the right option.
    """

    index: int
    instruction: str
    gold: Any
    completion: str | None = None
    prediction: str | float | None = None
    correct: bool | None = None
    gold_index: int | None = None
    loglikelihoods: list[float] | None = None
    choice: int | None = None
    choice_norm: int | None = None
    correct_choice: bool | None = None
    correct_choice_norm: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        if self.completion is None:
            for name in _GENERATION_FIELDS:
                del row[name]
        if self.loglikelihoods is None:
            for name in _LIKELIHOOD_FIELDS:
                del row[name]
        return row


def interval95(correct: int, scored: int) -> float:
    """Half the width of the 95 % interval of an accuracy over ``scored`` items (normal approximation with the
    sample's standard error, ``sqrt(p (1 - p) / (n - 1))``, lm-evaluation-harness's ``acc_stderr``), in ``[0, 1]``."""
    if scored < 2:
        return math.nan
    p = correct / scored
    return Z95 * math.sqrt(p * (1 - p) / (scored - 1))


@dataclass
class LikelihoodResult:
    """One dataset scored by likelihood.

    Attributes:
        acc: fraction of items whose highest-likelihood option is right, in [0, 1].
        acc_norm: the same with each option's log-likelihood divided by its length in characters.
        correct, correct_norm: the items right under each rule.
        scored: items scored.
        seconds: scoring wall time (the slowest rank's, under DDP).
        items_per_second: ``scored / seconds``.
        acc_interval, acc_norm_interval: half widths of the 95 % intervals (see :func:`interval95`).
    """

    acc: float
    acc_norm: float
    correct: int
    correct_norm: int
    scored: int
    seconds: float
    items_per_second: float
    acc_interval: float = math.nan
    acc_norm_interval: float = math.nan


@dataclass
class DatasetResult:
    """Accuracy of one dataset.

    Attributes:
        name: dataset name.
        accuracy: fraction correct in [0, 1] over the scored items (generation; NaN when it was not generated for).
        correct: number of correct items.
        scored: number of items scored (equals ``total`` unless a run was cut short).
        total: number of items in the evaluated set.
        seconds: generation wall time (the slowest rank's, under DDP).
        items_per_second: ``scored / seconds``.
        max_new_tokens: generation budget used.
        rule: the answer rule's name.
        answered: items whose response the answer rule could read (a label, a number or a letter, right or
            wrong): the share of answers in the expected format.
        generated: whether the set was scored by generation (the fields above).
        likelihood: the scores by likelihood, when its options were scored.
    """

    name: str
    accuracy: float
    correct: int
    scored: int
    total: int
    seconds: float
    items_per_second: float
    max_new_tokens: int
    rule: str
    answered: int = 0
    generated: bool = True
    likelihood: LikelihoodResult | None = None

    @property
    def answered_share(self) -> float:
        """Fraction of the scored items answered in the expected format."""
        return self.answered / self.scored if self.scored else math.nan


@dataclass
class EvaluationResult:
    """All datasets of one evaluation run.

    Attributes:
        datasets: per-dataset results, in evaluation order.
        num_beams: beams used (1 = greedy).
        template: the prompt template.
        world_size: number of processes that shared the items.
    """

    datasets: list[DatasetResult]
    num_beams: int
    template: str
    world_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def generated(self) -> list[DatasetResult]:
        """The datasets scored by generation."""
        return [result for result in self.datasets if result.generated]

    @property
    def by_likelihood(self) -> list[DatasetResult]:
        """The datasets whose options were scored by likelihood."""
        return [result for result in self.datasets if result.likelihood is not None]

    @property
    def mean_accuracy(self) -> float:
        """Unweighted mean of the per-dataset generation accuracies (the paper's "Avg." column)."""
        values = [result.accuracy for result in self.generated]
        return sum(values) / len(values) if values else math.nan

    @property
    def mean_acc(self) -> float:
        """Unweighted mean of the per-dataset ``acc`` (likelihood)."""
        values = [result.likelihood.acc for result in self.by_likelihood]
        return sum(values) / len(values) if values else math.nan

    @property
    def mean_acc_norm(self) -> float:
        """Unweighted mean of the per-dataset ``acc_norm`` (likelihood)."""
        values = [result.likelihood.acc_norm for result in self.by_likelihood]
        return sum(values) / len(values) if values else math.nan

    @property
    def items_per_second(self) -> float:
        """Items generated for per second, over all generated datasets."""
        seconds = sum(result.seconds for result in self.generated)
        return sum(result.scored for result in self.generated) / seconds if seconds > 0 else math.nan

    @property
    def likelihood_items_per_second(self) -> float:
        """Items scored by likelihood per second, over all such datasets."""
        seconds = sum(result.likelihood.seconds for result in self.by_likelihood)
        items = sum(result.likelihood.scored for result in self.by_likelihood)
        return items / seconds if seconds > 0 else math.nan

    def metrics(self, prefix: str = "test") -> dict[str, float]:
        """Flat metrics for a logger: ``{prefix}/{dataset}/accuracy`` and ``{prefix}/mean_accuracy`` (generation),
        ``{prefix}/{dataset}/acc``, ``.../acc_norm``, ``{prefix}/mean_acc``, ``{prefix}/mean_acc_norm`` (likelihood),
        and the items per second of each."""
        out: dict[str, float] = {}
        if self.generated:
            out.update({f"{prefix}/{result.name}/accuracy": result.accuracy for result in self.generated})
            out[f"{prefix}/mean_accuracy"] = self.mean_accuracy
            out[f"{prefix}/items_per_second"] = self.items_per_second
        for result in self.by_likelihood:
            out[f"{prefix}/{result.name}/acc"] = result.likelihood.acc
            out[f"{prefix}/{result.name}/acc_norm"] = result.likelihood.acc_norm
        if self.by_likelihood:
            out[f"{prefix}/mean_acc"] = self.mean_acc
            out[f"{prefix}/mean_acc_norm"] = self.mean_acc_norm
            out[f"{prefix}/likelihood_items_per_second"] = self.likelihood_items_per_second
        return out

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"datasets": {}}
        for result in self.datasets:
            entry = asdict(result)
            if entry["likelihood"] is None:
                del entry["likelihood"]
            if not result.generated:  # no NaN placeholders for what was not measured
                for name in _GENERATION_RESULT_FIELDS:
                    del entry[name]
            out["datasets"][result.name] = entry
        if self.generated:
            out["mean_accuracy"] = self.mean_accuracy
        if self.by_likelihood:
            out["mean_acc"] = self.mean_acc
            out["mean_acc_norm"] = self.mean_acc_norm
            out["likelihood_items_per_second"] = self.likelihood_items_per_second
        out.update(
            {
                "items": sum(result.scored for result in self.datasets),
                "items_per_second": self.items_per_second,
                "num_beams": self.num_beams,
                "template": self.template,
                "world_size": self.world_size,
                **self.extra,
            }
        )
        return out

    def to_markdown(self) -> str:
        """Markdown tables, in %: by generation (accuracy and answers in the expected format), then by likelihood
        (``acc`` and ``acc_norm`` with their 95 % intervals); each ends with the unweighted mean."""
        tables = []
        if self.generated:
            tables.append(self._generation_table())
        if self.by_likelihood:
            tables.append(self._likelihood_table())
        return "\n\n".join(tables)

    def _generation_table(self) -> str:
        lines = [
            "| dataset | accuracy (%) | correct / scored | in format (%) | items/s |",
            "|---|---:|---:|---:|---:|",
        ]
        generated = self.generated
        for result in generated:
            lines.append(
                f"| {result.name} | {100 * result.accuracy:.1f} | {result.correct} / {result.scored} "
                f"| {100 * result.answered_share:.1f} | {result.items_per_second:.2f} |"
            )
        scored = sum(r.scored for r in generated)
        answered = 100 * sum(r.answered for r in generated) / scored if scored else math.nan
        lines.append(
            f"| **mean** | **{100 * self.mean_accuracy:.1f}** | "
            f"{sum(r.correct for r in generated)} / {scored} | {answered:.1f} | {self.items_per_second:.2f} |"
        )
        return "\n".join(lines)

    def _likelihood_table(self) -> str:
        lines = [
            "| dataset (likelihood) | acc (%) | acc_norm (%) | correct / scored | items/s |",
            "|---|---:|---:|---:|---:|",
        ]
        for result in self.by_likelihood:
            score = result.likelihood
            lines.append(
                f"| {result.name} | {100 * score.acc:.1f} ± {100 * score.acc_interval:.1f} "
                f"| {100 * score.acc_norm:.1f} ± {100 * score.acc_norm_interval:.1f} "
                f"| {score.correct} / {score.scored} | {score.items_per_second:.2f} |"
            )
        scored = sum(r.likelihood.scored for r in self.by_likelihood)
        correct = sum(r.likelihood.correct for r in self.by_likelihood)
        lines.append(
            f"| **mean** | **{100 * self.mean_acc:.1f}** | **{100 * self.mean_acc_norm:.1f}** | {correct} / {scored} "
            f"| {self.likelihood_items_per_second:.2f} |"
        )
        return "\n".join(lines)
