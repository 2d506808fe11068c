"""The learning-rate schedule: one factor of the step for every parameter group, each group at its own peak.

The authors' schedule (the Hugging Face Trainer's ``linear``): linear warmup from 0 to the peak, then linear decay
to 0 at the last step (:func:`warmup_then_linear_decay`). :class:`LearningRateSchedule` is the scheduler that
applies it; callbacks change what trains or how fast through its methods, never through ``LambdaLR``'s lists.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["LearningRateSchedule", "warmup_then_linear_decay"]


def warmup_then_linear_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """The authors' learning-rate factor at ``step``: linear warmup from 0 to 1 over ``warmup_steps``, then
    linear decay to 0 at ``total_steps`` (the Hugging Face Trainer's ``linear`` schedule)."""
    if step < warmup_steps:
        return step / warmup_steps
    if step == 0:
        return 1.0
    total = max(1, total_steps)
    return max(0.0, (total - step) / max(1, total - warmup_steps))


class LearningRateSchedule(LambdaLR):
    """A ``LambdaLR`` whose groups all follow ``factor``, each scaled to its own peak learning rate.

    A group's learning rate at step ``t`` is ``peak_g * factor(t)``; ``peak_g`` is the first group's peak times
    the group's scale. Its state (the peaks and the step) is ``LambdaLR``'s, so checkpoints written by a plain
    ``LambdaLR`` over the same groups load into it.

    Args:
        optimizer: the optimizer; its groups' ``lr`` are their peaks.
        factor: the learning-rate factor of an optimizer step (e.g. :func:`warmup_then_linear_decay` bound to a run).
    """

    def __init__(self, optimizer: Optimizer, factor: Callable[[int], float]) -> None:
        super().__init__(optimizer, factor)  # no state of its own: checkpoints hold LambdaLR's

    @property
    def factor(self) -> Callable[[int], float]:
        """The learning-rate factor of an optimizer step, shared by every group."""
        return self.lr_lambdas[0]

    @property
    def peak(self) -> float:
        """The first group's peak learning rate."""
        return self.base_lrs[0]

    def add_group(self, params: list[nn.Parameter], scale: float, name: str) -> None:
        """Train ``params`` from now on, as a new optimizer group on this schedule from where it stands.

        Args:
            params: parameters that the optimizer does not hold yet.
            scale: the group's peak learning rate relative to the first group's.
            name: the group's name (LearningRateMonitor logs it as ``lr-<optimizer>/<name>``).
        """
        peak = scale * self.peak
        self.optimizer.add_param_group(
            {"params": params, "lr": peak * self.factor(self.last_epoch), "initial_lr": peak, "name": name}
        )
        self.base_lrs.append(peak)
        self.lr_lambdas.append(self.factor)

    def set_peak(self, peak: float) -> None:
        """Move every group's peak so that the first group's is ``peak``, keeping the groups' ratios and the
        schedule's position (a resumed run given a new learning rate)."""
        ratio = peak / self.peak
        for index, group in enumerate(self.optimizer.param_groups):
            self.base_lrs[index] *= ratio
            group["initial_lr"] = self.base_lrs[index]
            group["lr"] = self.base_lrs[index] * self.lr_lambdas[index](self.last_epoch)
