"""Length grouping, exact-once evaluation sharding and padding."""

from __future__ import annotations

import random

import pytest
import torch
from torch.utils.data import DistributedSampler

from denselora.data import LengthGroupedSampler, PaddingCollator, ShardedLengthSortedSampler, shard_indices
from denselora.data.samplers import ShardedTrainingSampler


def _random_lengths(n: int, high: int, seed: int = 0) -> list[int]:
    # One generator for all items: a generator seeded afresh for each item would give n equal lengths, and
    # every length-order assertion below would then hold for any order.
    rng = random.Random(seed)
    return [rng.randrange(1, high) for _ in range(n)]


@pytest.mark.parametrize("n", [0, 1, 5, 17, 100])
@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_shards_cover_every_item_exactly_once(n, world_size):
    lengths = _random_lengths(n, 50, seed=n)
    assert n < 5 or len(set(lengths)) > 1  # distinct lengths, so that the order checks below can fail
    shards = [shard_indices(lengths, rank, world_size) for rank in range(world_size)]
    flat = [index for shard in shards for index in shard]
    assert sorted(flat) == list(range(n))  # nothing repeated, nothing left out
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    for rank, shard in enumerate(shards):
        assert len(shard) == len(range(rank, n, world_size))  # what the evaluator expects per rank
        assert [lengths[i] for i in shard] == sorted((lengths[i] for i in shard), reverse=True)


def test_torch_distributed_sampler_would_repeat_items():
    # Why the evaluation sampler exists: torch pads shards to equal size with repeated items.
    items = list(range(5))
    padded = [i for rank in range(2) for i in DistributedSampler(items, num_replicas=2, rank=rank, shuffle=False)]
    assert len(padded) == 6
    ours = [i for rank in range(2) for i in ShardedLengthSortedSampler([1] * 5, rank=rank, world_size=2)]
    assert sorted(ours) == items


def test_sharded_sampler_is_a_distributed_sampler():
    sampler = ShardedLengthSortedSampler([3, 9, 1, 7], rank=1, world_size=2)
    assert isinstance(sampler, DistributedSampler)  # so Lightning leaves it in place
    assert list(sampler) == [3, 2] and len(sampler) == 2  # by length: 1 (9), 3 (7), 0 (3), 2 (1)
    with pytest.raises(ValueError):
        ShardedLengthSortedSampler([1, 2], rank=2, world_size=2)


def test_shards_break_ties_by_index():
    # Sorted by length, ties by index: 1, 3 (5), 0, 2, 4 (2); then dealt round-robin.
    assert shard_indices([2, 5, 2, 5, 2], rank=0, world_size=2) == [1, 0, 4]
    assert shard_indices([2, 5, 2, 5, 2], rank=1, world_size=2) == [3, 2]


def test_length_grouped_sampler():
    lengths = _random_lengths(250, 200)
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=0, mega_batch_mult=5)
    first = list(sampler)
    assert sorted(first) == list(range(250))
    assert list(LengthGroupedSampler(lengths, batch_size=4, seed=0, mega_batch_mult=5)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first  # the order depends on seed + epoch only


def test_length_grouped_sampler_sorts_each_mega_batch_of_the_shuffle():
    # Hugging Face's get_length_grouped_indices: shuffle, cut into mega-batches of batch_size * mega_batch_mult,
    # sort each longest first, then swap the longest example of all to the very front.
    lengths = _random_lengths(250, 200)
    order = list(LengthGroupedSampler(lengths, batch_size=4, seed=3, mega_batch_mult=5))
    shuffled = torch.randperm(250, generator=torch.Generator().manual_seed(3)).tolist()
    megas = [order[i : i + 20] for i in range(0, 250, 20)]
    groups = [shuffled[i : i + 20] for i in range(0, 250, 20)]
    longest = max(range(250), key=lambda i: lengths[i])
    assert lengths[order[0]] == max(lengths)  # the batch with the longest example comes first
    holder = next(m for m, group in enumerate(groups) if longest in group)
    assert holder != 0  # with this seed the swap moves an example between mega-batches
    swapped_out = megas[holder][0]  # mega-batch 0's longest example, which made room for the longest of all
    swaps = {0: (swapped_out, longest), holder: (longest, swapped_out)}  # (lost, gained)
    for m, (mega, group) in enumerate(zip(megas, groups, strict=True)):
        # Each mega-batch holds one slice of the shuffle (up to the swapped pair), not a global length order.
        lost, gained = swaps.get(m, (None, None))
        assert set(mega) == (set(group) - {lost}) | ({gained} - {None})
        # Longest first; only the first position of a mega-batch can hold a swapped-in example.
        rest = [lengths[i] for i in mega[1:]]
        assert rest == sorted(rest, reverse=True)
        assert len(set(rest)) > 1


def test_sharded_training_sampler_deals_the_order_round_robin():
    lengths = _random_lengths(10, 100)
    order = LengthGroupedSampler(lengths, batch_size=2, seed=0, mega_batch_mult=2)
    whole = list(order)
    shards = [ShardedTrainingSampler(order, rank=rank, world_size=3) for rank in range(3)]
    # Padded with the first examples to 12 = 3 x 4, so every rank takes the same number of steps.
    padded = whole + whole[:2]
    for rank, shard in enumerate(shards):
        assert isinstance(shard, DistributedSampler) and len(shard) == 4
        assert list(shard) == padded[rank::3]
    # set_epoch reaches the wrapped order, so every rank reshuffles the same way.
    for shard in shards:
        shard.set_epoch(1)
    assert order.epoch == 1
    reshuffled = list(order)
    assert reshuffled != whole
    assert [list(shard) for shard in shards] == [(reshuffled + reshuffled[:2])[rank::3] for rank in range(3)]
    with pytest.raises(ValueError):
        ShardedTrainingSampler(order, rank=3, world_size=3)


def test_padding_collator_right_and_left():
    examples = [
        {"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "index": 4},
        {"input_ids": [8], "labels": [8], "index": 1},
    ]
    right = PaddingCollator(pad_token_id=0, padding_side="right", pad_to_multiple_of=8)(examples)
    assert right["input_ids"].tolist() == [[5, 6, 7, 0, 0, 0, 0, 0], [8, 0, 0, 0, 0, 0, 0, 0]]
    assert right["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]]
    assert right["labels"].tolist() == [[-100, 6, 7] + [-100] * 5, [8] + [-100] * 7]
    assert right["index"].tolist() == [4, 1]
    left = PaddingCollator(pad_token_id=9, padding_side="left")([{"input_ids": [5, 6, 7]}, {"input_ids": [8]}])
    assert left["input_ids"].tolist() == [[5, 6, 7], [9, 9, 8]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert set(left) == {"input_ids", "attention_mask"}
    assert left["input_ids"].dtype == torch.long
    with pytest.raises(ValueError, match="padding_side"):
        PaddingCollator(pad_token_id=0, padding_side="center")
