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

    # Lightning's fit loop fetches one batch ahead of the one being trained on, so when it saves a checkpoint
    # mid-epoch one batch handed out has not been trained on yet.
    _FETCHED_AHEAD = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handed_out = 0
        self._exhausted = False
        self._skip = 0

    def __iter__(self) -> Iterator[Any]:
        skip, self._skip = self._skip, 0
        self._handed_out, self._exhausted = 0, False
        iterator = super().__iter__()
        for _ in range(skip):  # the already trained-on batches of the interrupted epoch
            next(iterator)
            self._handed_out += 1
        return self._count(iterator)

    def _count(self, iterator: Iterator[Any]) -> Iterator[Any]:
        for batch in iterator:
            self._handed_out += 1
            yield batch
        self._exhausted = True

    def state_dict(self) -> dict[str, int]:
        consumed = self._handed_out if self._exhausted else max(0, self._handed_out - self._FETCHED_AHEAD)
        return {"batches_consumed": consumed}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._skip = int(state_dict.get("batches_consumed", 0))
