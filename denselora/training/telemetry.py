"""Logging how fast a run trains and how large its gradients are, without making the host wait for the device."""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.utilities import GradClipAlgorithmType
from torch import Tensor

__all__ = ["TrainingTelemetry", "clips_by_norm_as_lightning", "gradient_norm", "log_norm_and_clip", "writes_logs_at"]


class TrainingTelemetry(Callback):
    """Logs ``train/tokens_per_sec``: the non-padding tokens trained on since the last value, over the wall time
    since then, at each optimizer step after which Lightning writes the logs (every ``log_every_n_steps``).
    :class:`~denselora.training.FineTuner` adds it to every run; the gradient norm is the fine-tuner's own
    (:meth:`~denselora.training.FineTuner.configure_gradient_clipping`).

    The tokens (the attention mask's sum) are counted and added up on the device, so no training step reads a
    value back from it: Lightning does when it writes the logs, where it reads every logged value anyway. Timing
    the window between two logging steps, rather than one micro-batch, is also what makes the value right on a
    GPU: the host only queues the device's work, and the window runs between the same points of two steps.
    Validation inside a window does not count.
    """

    def __init__(self) -> None:
        self._tokens: Tensor | int = 0
        self._window_started: float | None = None
        self._validation_started: float | None = None
        self._step_at_batch_start = -1

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._tokens, self._window_started = 0, None

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._window_started is None:
            self._window_started = perf_counter()
        self._step_at_batch_start = trainer.global_step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        mask = batch.get("attention_mask")
        self._tokens = self._tokens + (mask.sum() if mask is not None else batch["input_ids"].numel())
        step = trainer.global_step
        if step == self._step_at_batch_start or not (trainer.should_stop or writes_logs_at(trainer, step)):
            return  # inside a gradient accumulation window, or a step whose logs Lightning does not write
        now = perf_counter()
        seconds = now - self._window_started
        if seconds > 0:
            pl_module.log("train/tokens_per_sec", self._tokens / seconds, batch_size=batch["input_ids"].size(0))
        self._tokens, self._window_started = 0, now

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validation_started = perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._window_started is not None and self._validation_started is not None:
            self._window_started += perf_counter() - self._validation_started
        self._validation_started = None


def writes_logs_at(trainer: L.Trainer, step: int) -> bool:
    """Whether Lightning writes the logged values to the loggers at the end of optimizer step ``step`` (every
    ``log_every_n_steps``, as its logger connector counts them; ``LearningRateMonitor`` writes at its start)."""
    every = trainer.log_every_n_steps
    return every > 0 and step % every == 0


def gradient_norm(parameters: Iterable[torch.nn.Parameter]) -> Tensor | None:
    """The L2 norm of the parameters' gradients, on the device (``None`` when none has a gradient): the norm that
    ``torch.nn.utils.clip_grad_norm_`` computes, so that clipping by it (:func:`clips_by_norm_as_lightning`) is
    Lightning's clipping exactly."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    if hasattr(torch.nn.utils, "get_total_norm"):  # torch >= 2.6
        return torch.nn.utils.get_total_norm(grads)
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def clips_by_norm_as_lightning(
    trainer: L.Trainer,
    optimizer: torch.optim.Optimizer,
    clip_val: float | None,
    algorithm: str | GradClipAlgorithmType | None,
) -> bool:
    """Whether Lightning's clipping at this step would be ``clip_grad_norm_(optimizer's parameters, clip_val)``:
    clipping by norm, a positive value, a precision plugin that clips with plain PyTorch (full, half or mixed
    precision; not FSDP1's or DeepSpeed's), an optimizer that does not unscale gradients itself (a fused one,
    which Lightning's mixed precision refuses to clip), and a torch that scales by a given norm (2.6 and later)."""
    plugin = type(trainer.precision_plugin)
    return (
        bool(clip_val)
        and clip_val > 0
        and algorithm in (None, GradClipAlgorithmType.NORM)
        and plugin.clip_gradients in (Precision.clip_gradients, MixedPrecision.clip_gradients)
        and plugin.clip_grad_by_norm is Precision.clip_grad_by_norm
        and plugin.main_params is Precision.main_params
        and not getattr(optimizer, "_step_supports_amp_scaling", False)
        and hasattr(torch.nn.utils, "clip_grads_with_norm_")
    )


def log_norm_and_clip(
    module: L.LightningModule,
    optimizer: torch.optim.Optimizer,
    clip_val: float | None,
    algorithm: str | None,
) -> None:
    """Log ``train/grad_norm``, the L2 norm of the trainable parameters' gradients before clipping, and clip.

    The norm is computed once: clipping by norm scales the gradients by that same norm, which is what Lightning's
    own clipping does after computing it again (:func:`gradient_norm`, :func:`clips_by_norm_as_lightning`); any
    other clipping is Lightning's (``LightningModule.configure_gradient_clipping``).
    """
    parameters = list(module.trainer.precision_plugin.main_params(optimizer))
    norm = gradient_norm(parameters)
    if norm is not None:
        module.log("train/grad_norm", norm)
        if clips_by_norm_as_lightning(module.trainer, optimizer, clip_val, algorithm):
            torch.nn.utils.clip_grads_with_norm_(parameters, clip_val, norm)
            return
    L.LightningModule.configure_gradient_clipping(module, optimizer, clip_val, algorithm)
