"""Logging how fast a run trains and how large its gradients are."""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

__all__ = ["TrainingTelemetry"]


class TrainingTelemetry(Callback):
    """Logs ``train/tokens_per_sec`` (the micro-batch's non-padding tokens over its wall time) and
    ``train/grad_norm`` (the L2 norm of the trainable parameters' gradients before each optimizer step, before
    clipping). :class:`~denselora.training.FineTuner` adds it to every run."""

    def __init__(self) -> None:
        self._batch_started = 0.0

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        seconds = time.perf_counter() - self._batch_started
        mask = batch.get("attention_mask")
        tokens = mask.sum().item() if mask is not None else batch["input_ids"].numel()
        if seconds > 0:
            pl_module.log("train/tokens_per_sec", tokens / seconds, batch_size=batch["input_ids"].size(0))

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
            pl_module.log("train/grad_norm", norm)
