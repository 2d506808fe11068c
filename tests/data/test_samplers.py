"""Length grouping, exact-once evaluation sharding and padding."""

from __future__ import annotations

import random

import pytest
import torch
from torch.utils.data import DistributedSampler

from denselora.data import LengthGroupedSampler, PaddingCollator, ShardedLengthSortedSampler, shard_indices


@pytest.mark.parametrize("n", [0, 1, 5, 17, 100])
@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_shards_cover_every_item_exactly_once(n, world_size):
    lengths = [random.Random(n).randrange(1, 50) for _ in range(n)]
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


def test_length_grouped_sampler():
    lengths = [random.Random(0).randrange(1, 200) for _ in range(250)]
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=0, mega_batch_mult=5)
    first = list(sampler)
    assert sorted(first) == list(range(250))
    assert lengths[first[0]] == max(lengths)  # longest batch first
    assert list(LengthGroupedSampler(lengths, batch_size=4, seed=0, mega_batch_mult=5)) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    # Inside a mega-batch (except the swapped first element) lengths never increase.
    mega = first[1:20]
    assert [lengths[i] for i in mega] == sorted((lengths[i] for i in mega), reverse=True)


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
