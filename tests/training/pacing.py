"""A callback that slows training down without changing it, so a test can kill a run in the middle."""

import time

from lightning.pytorch.callbacks import Callback


class SleepAfterEachStep(Callback):
    def __init__(self, seconds: float = 0.2) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, *args) -> None:
        time.sleep(self.seconds)
