"""Callbacks that pace or report a training run without changing it, so a test can stop it in the middle."""

import time

from lightning.pytorch.callbacks import Callback


class SleepAfterEachStep(Callback):
    def __init__(self, seconds: float = 0.2) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, *args) -> None:
        time.sleep(self.seconds)


class WriteStepAfterEachBatch(Callback):
    """Writes the optimizer step reached to a file after every batch, so a test knows how far a run got."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_end(self, trainer, *args) -> None:
        with open(self.path, "w") as handle:
            handle.write(str(trainer.global_step))


class SleepAfterEachTestBatch(Callback):
    """Slows ``test`` down and marks, in a file, that its first batch is done."""

    def __init__(self, path: str, seconds: float = 0.5) -> None:
        self.path, self.seconds = path, seconds

    def on_test_batch_end(self, *args) -> None:
        with open(self.path, "w") as handle:
            handle.write("testing")
        time.sleep(self.seconds)
