from types import SimpleNamespace

import pytest
import torch

from denselora.callbacks.progress import NamedRichProgressBar, NamedTQDMProgressBar


@pytest.mark.parametrize("kind", [NamedTQDMProgressBar, NamedRichProgressBar])
def test_a_bar_shows_the_training_loss_read_back_at_most_every_interval(kind):
    # The loss is no progress-bar metric (Lightning would read it back after every batch): the bar reads it.
    trainer = SimpleNamespace(
        training=True, loggers=[], progress_bar_metrics={}, callback_metrics={"train/loss": torch.tensor(2.5)}
    )
    bar = kind()
    bar.loss_every_seconds = 3600
    assert bar.get_metrics(trainer, None)["train/loss"] == 2.5
    trainer.callback_metrics["train/loss"] = torch.tensor(3.0)
    assert bar.get_metrics(trainer, None)["train/loss"] == 2.5  # not read again within the interval
    bar.loss_every_seconds = 0
    assert bar.get_metrics(trainer, None)["train/loss"] == 3.0
