import pytest
import torch

from denselora.modules.dropout_masks import draw_seed, drop_mask


def test_the_same_arguments_give_the_same_mask_and_others_differ():
    mask = drop_mask(7, 0, (64, 96), 0.3, torch.device("cpu"))
    assert torch.equal(mask.drop, drop_mask(7, 0, (64, 96), 0.3, torch.device("cpu")).drop)
    assert not torch.equal(mask.drop, drop_mask(8, 0, (64, 96), 0.3, torch.device("cpu")).drop)
    assert not torch.equal(mask.drop, drop_mask(7, 1, (64, 96), 0.3, torch.device("cpu")).drop)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5])
def test_drop_rate_and_scale(p):
    mask = drop_mask(3, 2, (1000, 1000), p, torch.device("cpu"))
    levels = round(p * 2**16)
    assert mask.scale == 2**16 / (2**16 - levels)  # exactly 1 / (1 - p') for the 16-bit p'
    rate = mask.drop.double().mean().item()
    sigma = (p * (1 - p) / 1e6) ** 0.5
    assert abs(rate - levels / 2**16) < 5 * sigma


def test_odd_sizes_and_probabilities_out_of_range():
    assert drop_mask(1, 0, (3, 5), 0.5, torch.device("cpu")).drop.shape == (3, 5)
    for p in (0.0, 1.0, 1e-9):
        with pytest.raises(ValueError, match="dropout probability"):
            drop_mask(1, 0, (4,), p, torch.device("cpu"))


def test_seeds_follow_torch_manual_seed():
    torch.manual_seed(11)
    first = [draw_seed() for _ in range(3)]
    torch.manual_seed(11)
    assert [draw_seed() for _ in range(3)] == first
    assert len(set(first)) == 3
