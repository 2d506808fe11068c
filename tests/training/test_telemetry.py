from types import SimpleNamespace

import torch

from denselora.training import telemetry
from denselora.training.telemetry import TrainingTelemetry


class Module:
    def __init__(self) -> None:
        self.logged = []

    def log(self, name, value, **kwargs) -> None:
        self.logged.append((name, float(value)))


def test_tokens_per_second_over_the_steps_between_two_logging_steps_without_validation(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(telemetry, "perf_counter", lambda: now[0])
    trainer = SimpleNamespace(global_step=0, should_stop=False, log_every_n_steps=2)
    module, callback = Module(), TrainingTelemetry()
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])  # 5 tokens, 3 of them padding

    def batch(seconds, steps):
        callback.on_train_batch_start(trainer, module, {"attention_mask": mask}, 0)
        now[0] += seconds
        trainer.global_step += steps
        callback.on_train_batch_end(trainer, module, None, {"input_ids": mask, "attention_mask": mask}, 0)

    callback.on_train_start(trainer, module)
    batch(1.0, 0)  # a micro-batch inside an accumulation window
    batch(1.0, 1)  # step 1: Lightning writes no logs
    assert module.logged == []
    callback.on_validation_start(trainer, module)
    now[0] += 10.0  # validation is not training time
    callback.on_validation_end(trainer, module)
    batch(2.0, 1)  # step 2: a logging step
    assert module.logged == [("train/tokens_per_sec", 15 / 4)]
    batch(1.0, 1)
    batch(1.0, 1)  # the next window starts where the last ended
    assert module.logged[1:] == [("train/tokens_per_sec", 10 / 2)]
