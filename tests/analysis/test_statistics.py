import math

import pytest
import torch

from denselora.analysis import effective_rank, update_statistics


def test_effective_rank_of_known_spectra():
    assert effective_rank(torch.eye(6)) == pytest.approx(6.0)
    assert effective_rank(torch.outer(torch.arange(1.0, 5.0), torch.ones(3))) == pytest.approx(1.0)
    # Singular values 3 and 1: p = (3/4, 1/4), exp(H) = exp(-(3/4 ln 3/4 + 1/4 ln 1/4)).
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert effective_rank(torch.diag(torch.tensor([3.0, 1.0, 0.0]))) == pytest.approx(expected)
    assert effective_rank(torch.zeros(4, 4)) == 0.0


def test_effective_rank_stays_in_one_to_min_dimension():
    generator = torch.Generator().manual_seed(0)
    for shape in ((8, 8), (4, 16), (16, 4)):
        value = effective_rank(torch.randn(shape, generator=generator))
        assert 1.0 <= value <= min(shape)


def test_update_statistics_counts_entries_above_a_share_of_the_maximum():
    delta = torch.tensor([[1.0, -0.5], [0.05, 0.0]])
    stats = update_statistics(delta, threshold=0.1)
    assert stats.max_abs == 1.0
    assert stats.active_share == 0.5  # 1.0 and 0.5 exceed 0.1; 0.05 and 0 do not
    assert stats.mean_over_max == pytest.approx((1.0 + 0.5 + 0.05) / 4)
    assert 1.0 <= stats.effective_rank <= 2.0
    assert update_statistics(delta, threshold=0.6).active_share == 0.25


def test_a_dense_update_scores_higher_than_a_sparse_one():
    generator = torch.Generator().manual_seed(0)
    dense = torch.randn(16, 16, generator=generator)
    sparse = torch.zeros(16, 16)
    sparse[3, 5], sparse[9, 1] = 1.0, -0.8
    assert update_statistics(dense).active_share > 0.5  # Gaussian entries: about 0.7 above a tenth of the max
    assert update_statistics(sparse).active_share == 2 / 256
    assert update_statistics(dense).effective_rank > update_statistics(sparse).effective_rank


def test_an_unchanged_matrix_has_all_zero_statistics():
    assert update_statistics(torch.zeros(3, 3)).as_dict() == {
        "max_abs": 0.0,
        "active_share": 0.0,
        "mean_over_max": 0.0,
        "effective_rank": 0.0,
    }
    with pytest.raises(ValueError, match="matrix"):
        update_statistics(torch.zeros(3))
