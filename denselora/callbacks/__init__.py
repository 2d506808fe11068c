"""Lightning callbacks of the trainer."""

from denselora.callbacks.latest_checkpoint import LatestCheckpoint

__all__ = ["LatestCheckpoint"]
