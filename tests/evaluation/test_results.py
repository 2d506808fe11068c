"""Results arithmetic: the unweighted mean over datasets, the in-format share, the table in percent."""

from __future__ import annotations

import math

import pytest

from denselora.evaluation.results import DatasetResult, EvaluationResult


def _dataset(name: str, correct: int, scored: int, answered: int, seconds: float, total: int) -> DatasetResult:
    return DatasetResult(
        name=name,
        accuracy=correct / scored,
        correct=correct,
        scored=scored,
        total=total,
        seconds=seconds,
        items_per_second=scored / seconds,
        max_new_tokens=32,
        rule="label",
        answered=answered,
    )


@pytest.fixture
def result() -> EvaluationResult:
    # Sets of different sizes, so that a mean weighted by items (6 / 10) differs from the unweighted one; the
    # small set was cut short (2 of 4 scored), so shares over ``total`` differ from shares over ``scored``.
    return EvaluationResult(
        [_dataset("big", 6, 8, 8, 2.0, total=8), _dataset("small", 0, 2, 1, 3.0, total=4)],
        num_beams=4,
        template="authors",
    )


def test_mean_accuracy_is_unweighted_over_datasets(result):
    # The paper's "Avg." column: (0.75 + 0.0) / 2, not 6 correct of 10 items.
    assert result.mean_accuracy == pytest.approx(0.375)
    assert result.metrics("test") == pytest.approx(
        {
            "test/big/accuracy": 0.75,
            "test/small/accuracy": 0.0,
            "test/mean_accuracy": 0.375,
            "test/items_per_second": 2.0,
        }
    )
    summary = result.to_dict()
    assert summary["mean_accuracy"] == pytest.approx(0.375) and summary["items"] == 10


def test_in_format_share_counts_answers_not_correct_ones(result):
    big, small = result.datasets
    assert big.answered_share == 1.0  # 8 of 8 readable, 6 of them right
    assert small.answered_share == 0.5  # over the 2 scored items, not the 4 of the file


def test_throughput_is_items_over_total_seconds(result):
    assert result.items_per_second == pytest.approx(10 / 5.0)  # not the sum of the per-set rates


def test_markdown_table_is_in_percent_and_pools_the_in_format_share(result):
    rows = result.to_markdown().splitlines()
    assert rows[2] == "| big | 75.0 | 6 / 8 | 100.0 | 4.00 |"
    assert rows[3] == "| small | 0.0 | 0 / 2 | 50.0 | 0.67 |"
    # In-format share of all scored items (9 of 10), not the mean of the per-set shares (75 %).
    assert rows[4] == "| **mean** | **37.5** | 6 / 10 | 90.0 | 2.00 |"


def test_nothing_scored_is_nan_not_zero():
    assert math.isnan(EvaluationResult([], num_beams=1, template="alpaca").mean_accuracy)
    empty = DatasetResult("empty", math.nan, 0, 0, 4, 0.0, math.nan, 32, "label")
    assert math.isnan(empty.answered_share)
