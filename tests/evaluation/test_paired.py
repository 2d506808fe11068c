"""McNemar's exact test against scipy-free reference values computed by hand."""

from __future__ import annotations

import math

import pytest

from denselora.evaluation.paired import compare_paired, mcnemar_exact


def test_exact_p_values():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0  # capped: 2 * P(X <= 5) > 1 for Binomial(10, 1/2)
    # 10 discordant items, all one way: 2 * (1/2)^10.
    assert mcnemar_exact(10, 0) == pytest.approx(2 / 1024)
    assert mcnemar_exact(0, 10) == mcnemar_exact(10, 0)
    # 12 against 3: 2 * sum_{i<=3} C(15, i) / 2^15.
    expected = 2 * sum(math.comb(15, i) for i in range(4)) / 2**15
    assert mcnemar_exact(12, 3) == pytest.approx(expected) and expected == pytest.approx(0.03516, abs=1e-5)


def test_comparison_pairs_items_by_index():
    run = {0: True, 1: True, 2: False, 3: True, 9: True}
    reference = {0: True, 1: False, 2: False, 3: False, 4: True}
    comparison = compare_paired(run, reference)
    assert comparison.items == 4  # items 4 and 9 were scored by one run only
    assert (comparison.only_run, comparison.only_reference) == (2, 0)
    assert comparison.accuracy == 0.75 and comparison.reference_accuracy == 0.25
    assert comparison.difference == 0.5 and comparison.p_value == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no item in common"):
        compare_paired({0: True}, {1: True})
