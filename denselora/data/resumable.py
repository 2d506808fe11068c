"""Training data order that survives a restart: a seeded per-epoch shuffle and a loader that resumes mid-epoch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

__all__ = ["EpochShuffleSampler", "ResumableDataLoader"]


class EpochShuffleSampler(Sampler[int]):
    """A random order that depends only on ``seed`` and the epoch (set by Lightning through ``set_epoch``).

    ``DataLoader(shuffle=True)`` draws its order from the global RNG when an epoch starts, so a run resumed
    from a checkpoint would see another order; this one sees the very same.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` that Lightning checkpoints and resumes mid-epoch (the ``state_dict`` protocol).

    Its state is the number of batches of the current epoch that training has consumed; after
    ``load_state_dict`` the next epoch iterator skips that many batches. Give it a sampler whose order is a
    function of the epoch (such as :class:`EpochShuffleSampler`), so the skipped batches are the ones seen.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed_out = 0
        self._skip = 0

    def __iter__(self) -> Iterator[Any]:
        # A generator: nothing runs until the first batch is asked for, so a state loaded after the iterator
        # was created still applies.
        skip, self._skip = self._skip, 0
        self._handed_out = 0
        iterator = super().__iter__()
        for _ in range(skip):  # the already trained-on batches of the interrupted epoch
            next(iterator)
            self._handed_out += 1
        for batch in iterator:
            self._handed_out += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        # Lightning asks at the end of a training batch, when every batch handed out has been trained on.
        return {"batches_consumed": self._handed_out}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._skip = int(state_dict.get("batches_consumed", 0))
