"""Evaluation results: per-item records, per-dataset accuracy, the summary table and JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DatasetResult", "EvaluationResult", "ItemResult"]


@dataclass
class ItemResult:
    """One scored item; a line of the predictions JSONL file.

    Attributes:
        index: position of the item in its ``test.json``.
        instruction: the record's instruction.
        completion: the generated text after the prompt, as decoded.
        prediction: what the answer rule extracted (label, number or letter); ``None`` if nothing matched.
        gold: the record's ``answer``.
        correct: whether the prediction matches the gold answer.
    """

    index: int
    instruction: str
    completion: str
    prediction: str | float | None
    gold: Any
    correct: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DatasetResult:
    """Accuracy of one dataset.

    Attributes:
        name: dataset name.
        accuracy: fraction correct in [0, 1] over the scored items.
        correct: number of correct items.
        scored: number of items scored (equals ``total`` unless a run was cut short).
        total: number of items in the evaluated set.
        seconds: generation wall time (the slowest rank's, under DDP).
        items_per_second: ``scored / seconds``.
        max_new_tokens: generation budget used.
        rule: the answer rule's name.
        answered: items whose response the answer rule could read (a label, a number or a letter, right or
            wrong): the share of answers in the expected format.
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
    def mean_accuracy(self) -> float:
        """Unweighted mean of the per-dataset accuracies (the paper's "Avg." column)."""
        values = [result.accuracy for result in self.datasets]
        return sum(values) / len(values) if values else math.nan

    @property
    def items_per_second(self) -> float:
        seconds = sum(result.seconds for result in self.datasets)
        return sum(result.scored for result in self.datasets) / seconds if seconds > 0 else math.nan

    def metrics(self, prefix: str = "test") -> dict[str, float]:
        """Flat metrics for a logger: ``{prefix}/{dataset}/accuracy``, ``{prefix}/mean_accuracy``, ..."""
        out = {f"{prefix}/{result.name}/accuracy": result.accuracy for result in self.datasets}
        out[f"{prefix}/mean_accuracy"] = self.mean_accuracy
        out[f"{prefix}/items_per_second"] = self.items_per_second
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "datasets": {result.name: asdict(result) for result in self.datasets},
            "mean_accuracy": self.mean_accuracy,
            "items": sum(result.scored for result in self.datasets),
            "items_per_second": self.items_per_second,
            "num_beams": self.num_beams,
            "template": self.template,
            "world_size": self.world_size,
            **self.extra,
        }

    def to_markdown(self) -> str:
        """A markdown table: one row per dataset (accuracy and answers in the expected format, in %), then the
        unweighted mean."""
        lines = [
            "| dataset | accuracy (%) | correct / scored | in format (%) | items/s |",
            "|---|---:|---:|---:|---:|",
        ]
        for result in self.datasets:
            lines.append(
                f"| {result.name} | {100 * result.accuracy:.1f} | {result.correct} / {result.scored} "
                f"| {100 * result.answered_share:.1f} | {result.items_per_second:.2f} |"
            )
        scored = sum(r.scored for r in self.datasets)
        answered = 100 * sum(r.answered for r in self.datasets) / scored if scored else math.nan
        lines.append(
            f"| **mean** | **{100 * self.mean_accuracy:.1f}** | "
            f"{sum(r.correct for r in self.datasets)} / {scored} | {answered:.1f} | {self.items_per_second:.2f} |"
        )
        return "\n".join(lines)
