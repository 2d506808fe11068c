import pytest
import torch

from denselora.methods.denselora.dropout_masks import DropMask, _dropped_positions, draw_seed, drop_masks

CPU = torch.device("cpu")
LAYOUTS = ["positions", "dense"]


def _mask(seed, shape, p, layout=None):
    return drop_masks(seed, [shape], p, CPU, layout)[0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_same_arguments_give_the_same_masks_and_others_differ(layout):
    first, second = (m.dense() for m in drop_masks(7, [(64, 96), (64, 96)], 0.3, CPU, layout))
    assert first.shape == (64, 96) and first.dtype == torch.bool
    again = drop_masks(7, [(64, 96), (64, 96)], 0.3, CPU, layout)
    assert torch.equal(first, again[0].dense()) and torch.equal(second, again[1].dense())
    assert not torch.equal(first, second)  # sites of one call are independent
    assert not torch.equal(first, _mask(8, (64, 96), 0.3, layout).dense())


def test_a_cpu_mask_is_a_list_of_positions():
    mask = _mask(1, (8, 8), 0.5)
    assert mask.positions is not None and mask.drop is None


def _five_sigma(count, n, p):
    return abs(count - n * p) < 5 * (n * p * (1 - p)) ** 0.5


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_positions_drop_each_entry_independently_with_probability_p(p):
    mask = _mask(3, (1000, 1000), p, "positions")
    assert mask.scale == 1 / (1 - p)
    positions = mask.positions
    assert positions.dtype == torch.int64
    assert bool((positions[1:] > positions[:-1]).all()) and positions[0] >= 0 and positions[-1] < 10**6
    drop = mask.dense().view(-1)
    assert _five_sigma(int(drop.sum()), 10**6, p)
    # Neighbours are independent: both dropped with probability p**2, in the flat order and across rows.
    assert _five_sigma(int((drop[1:] & drop[:-1]).sum()), 10**6 - 1, p * p)
    rows = mask.dense()
    assert _five_sigma(int((rows[1:] & rows[:-1]).sum()), 999 * 1000, p * p)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_sites_drawn_together_each_have_the_drop_rate(layout):
    shapes = [(300, 7), (300, 1), (300, 500)]
    masks = drop_masks(4, shapes, 0.2, CPU, layout)
    assert [m.shape for m in masks] == [torch.Size(s) for s in shapes]
    for mask in masks:
        n = mask.shape.numel()
        assert _five_sigma(int(mask.dense().sum()), n, 0.2)
        if mask.positions is not None:
            assert int(mask.positions.min()) >= 0 and int(mask.positions.max()) < n


def test_positions_drawn_in_several_chunks_keep_their_statistics():
    generator = torch.Generator()
    # Chunks two sigmas short of the expected count: nearly every draw takes more than one.
    draws = [_dropped_positions(10_000, 0.1, generator.manual_seed(seed), CPU, sigmas=-2.0) for seed in range(200)]
    assert _five_sigma(sum(int((drawn < 10_000).sum()) for drawn in draws), 200 * 10_000, 0.1)
    assert all(bool((drawn[1:] > drawn[:-1]).all()) and drawn[-1] >= 10_000 for drawn in draws)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5])
def test_dense_drop_rate_and_scale(p):
    mask = _mask(3, (1000, 1000), p, "dense")
    levels = round(p * 2**16)
    assert mask.scale == 2**16 / (2**16 - levels)  # exactly 1 / (1 - p') for the 16-bit p'
    assert _five_sigma(int(mask.drop.sum()), 10**6, levels / 2**16)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_zero_clears_exactly_the_dropped_entries(layout):
    mask = drop_masks(5, [(4, 4), (30, 7)], 0.4, CPU, layout)[1]
    t = torch.arange(1.0, 211.0).view(30, 7)
    assert mask.zero_(t) is t
    assert torch.equal(t == 0, mask.dense())
    with pytest.raises(ValueError, match="contiguous tensor"):
        mask.zero_(torch.ones(7, 30).t())
    with pytest.raises(ValueError, match="contiguous tensor"):
        mask.zero_(torch.ones(30, 8))


def test_odd_sizes_and_arguments_out_of_range():
    assert _mask(1, (3, 5), 0.5).dense().shape == (3, 5)
    assert [m.dense().shape for m in drop_masks(1, [(0, 5), (2, 1)], 0.5, CPU)] == [(0, 5), (2, 1)]
    for p in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="dropout probability"):
            _mask(1, (4,), p)
    with pytest.raises(ValueError, match="dropout probability"):
        _mask(1, (4,), 1e-9, "dense")
    with pytest.raises(ValueError, match="layout"):
        _mask(1, (4,), 0.5, "sparse")
    with pytest.raises(ValueError, match="either"):
        DropMask(torch.Size([2]), 2.0)


def test_seeds_follow_torch_manual_seed():
    torch.manual_seed(11)
    first = [draw_seed() for _ in range(3)]
    torch.manual_seed(11)
    assert [draw_seed() for _ in range(3)] == first
    assert len(set(first)) == 3
