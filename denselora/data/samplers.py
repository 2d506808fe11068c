"""Index orders for data loaders: length grouping for training, length-sorted sharding for evaluation."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import DistributedSampler, Sampler

__all__ = ["LengthGroupedSampler", "ShardedLengthSortedSampler", "ShardedTrainingSampler", "shard_indices"]


class LengthGroupedSampler(Sampler[int]):
    """Random order in which each micro-batch holds examples of similar length (less padding).

    As the Hugging Face Trainer's ``group_by_length`` (which LLM-Adapters exposes): shuffle, cut into
    mega-batches of ``batch_size * mega_batch_mult`` examples, sort each mega-batch by length (longest first),
    and put the batch with the longest example first so that an out-of-memory error shows up at once.

    Args:
        lengths: length of each example, ``len(lengths) == len(dataset)``.
        batch_size: the micro-batch size.
        seed: base seed; epoch ``e`` uses ``seed + e`` (call :meth:`set_epoch`).
        mega_batch_mult: mega-batch size in micro-batches.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 0, mega_batch_mult: int = 50):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.mega_batch_mult = mega_batch_mult
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        size = self.batch_size * self.mega_batch_mult
        megas = [sorted(order[i : i + size], key=lambda j: -self.lengths[j]) for i in range(0, len(order), size)]
        if megas:
            # Swap the batch holding the longest example to the front.
            longest = max(range(len(megas)), key=lambda m: self.lengths[megas[m][0]])
            megas[0][0], megas[longest][0] = megas[longest][0], megas[0][0]
        return iter([index for mega in megas for index in mega])


def shard_indices(lengths: Sequence[int], rank: int, world_size: int) -> list[int]:
    """This rank's share of the items, longest first, with no item repeated or left out.

    Items are sorted by length (longest first, ties by index) and dealt out round-robin, so every rank
    gets a similar mix of lengths, ranks get ``ceil`` or ``floor`` of ``n / world_size`` items, and the union
    of all shards is exactly ``range(n)``. (``torch``'s ``DistributedSampler`` instead pads with repeated
    items so that ranks get equal counts, which would score those items twice.)
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return order[rank::world_size]


class ShardedLengthSortedSampler(DistributedSampler):
    """Evaluation sampler: this rank's items (see :func:`shard_indices`), longest first, never padded.

    It subclasses ``DistributedSampler`` only so that Lightning sees a distributed sampler already in place
    and does not replace it with a padding one.

    Args:
        lengths: length of each item (for ordering).
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, lengths: Sequence[int], rank: int = 0, world_size: int = 1):
        # Bypass DistributedSampler.__init__: it needs a dataset and may query torch.distributed.
        self.indices = shard_indices(lengths, rank, world_size)
        self.rank = rank
        self.num_replicas = world_size
        self.num_samples = len(self.indices)
        self.total_size = len(lengths)
        self.shuffle = False
        self.drop_last = False
        self.seed = 0
        self.epoch = 0

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class ShardedTrainingSampler(DistributedSampler):
    """This rank's share of a training order, dealt round-robin: ``order[rank::world_size]``.

    Micro-batch ``t`` of the ``N`` ranks together is then exactly micro-batch ``t`` of one process with an
    ``N`` times larger batch, so adding devices changes the batch, not which examples are seen together.
    The order is padded with its first examples to a multiple of ``world_size`` so that every rank takes the
    same number of steps (as ``DistributedSampler`` does). It subclasses ``DistributedSampler`` so that
    Lightning leaves it in place instead of wrapping it in a sampler that shuffles the order again.

    Args:
        order: a sampler whose order depends only on its epoch (``set_epoch`` is forwarded to it).
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, order: Sampler[int], rank: int = 0, world_size: int = 1):
        # Bypass DistributedSampler.__init__: it needs a dataset and may query torch.distributed.
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
        self.order = order
        self.rank = rank
        self.num_replicas = world_size
        self.num_samples = -(-len(order) // world_size)
        self.total_size = self.num_samples * world_size
        self.shuffle = False
        self.drop_last = False
        self.seed = 0
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.order, "set_epoch"):
            self.order.set_epoch(epoch)

    def __iter__(self) -> Iterator[int]:
        indices = list(self.order)
        indices += indices[: self.total_size - len(indices)]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples
