"""Freezing DenseLoRA's shared encoders and decoders: the paper's "Freeze" ablation (Tab. 4), or a warm-up phase."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BaseFinetuning
from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from denselora.errors import ConfigError
from denselora.methods import AdapterMethod
from denselora.methods.denselora.inject import get_shared, init_for_frozen_pairs
from denselora.methods.denselora.shared import SharedEncoderDecoders
from denselora.training.schedule import LearningRateSchedule

__all__ = ["FreezeEncoderDecoder"]

PARAM_GROUP_NAME = "encoder_decoder"


class FreezeEncoderDecoder(BaseFinetuning):
    """Trains only the ``M`` matrices while the shared encoders ``W_e`` and decoders ``W_d`` stay frozen, for the
    whole run (the paper's "Freeze", Tab. 4) or until an optimizer step or epoch, after which they train too.

    **Freezing** happens before the optimizer is built, so the frozen tensors are not in it at all (no
    optimizer state, no weight decay, untouched bit for bit). Lightning offers no callback hook between
    ``configure_model`` and ``configure_optimizers``, so :meth:`setup` asks the module for its model
    (:meth:`denselora.training.FineTuner.ensure_model` builds it as Lightning would; a module without that method
    must have built its model already).

    **A frozen pair must not be the zero-initialised one.** DenseLoRA starts ``W_d`` at zero; frozen there,
    the adapter's output and the gradient of every ``M`` stay exactly zero and nothing trains. With
    ``reinitialize`` (the default), when every decoder is still all zeros (a fresh run), the decoders are drawn
    like the encoders (kaiming-uniform, ``a = sqrt(5)``) and every ``M`` is set to zero instead, so the
    adapter still outputs exactly zero at step 0 (as LoRA's ``B = 0`` and VeRA's ``b = 0`` do) and ``M``
    gets a gradient through the frozen random decoder. The draws use the seeded global generator.

    **Unfreezing** (``unfreeze_at_step`` or ``unfreeze_at_epoch``) makes the pairs trainable and adds them to the
    run's :class:`~denselora.training.schedule.LearningRateSchedule` (which :class:`~denselora.training.FineTuner`
    configures) as a new parameter group named ``encoder_decoder`` (LearningRateMonitor logs it as
    ``lr-AdamW/encoder_decoder``), at ``lr_factor`` times the first group's peak learning rate, on the same
    schedule from where it stands. The step of the
    unfreeze is part of the checkpoint: resuming from a later checkpoint rebuilds the group before Lightning
    loads the optimizer and scheduler states into it.

    Under DDP only freezing for the whole run is supported: DDP decides once, when it wraps the model, which
    parameters' gradients it averages, and would leave the unfrozen pairs out.

    Args:
        unfreeze_at_step: unfreeze before this optimizer step (the first ``unfreeze_at_step`` steps train only
            ``M``); ``None``: do not unfreeze by step.
        unfreeze_at_epoch: unfreeze when this epoch (0-based) starts; ``None``: do not unfreeze by epoch.
        lr_factor: learning rate of the unfrozen pairs relative to that of the ``M`` matrices.
        reinitialize: draw a random frozen decoder (and zero ``M``) when the decoders are still all zeros.
    """

    def __init__(
        self,
        unfreeze_at_step: int | None = None,
        unfreeze_at_epoch: int | None = None,
        lr_factor: float = 1.0,
        reinitialize: bool = True,
    ) -> None:
        super().__init__()
        if unfreeze_at_step is not None and unfreeze_at_epoch is not None:
            raise ConfigError("FreezeEncoderDecoder: give unfreeze_at_step or unfreeze_at_epoch, not both")
        for name, value in (("unfreeze_at_step", unfreeze_at_step), ("unfreeze_at_epoch", unfreeze_at_epoch)):
            if value is not None and value < 1:
                raise ConfigError(f"FreezeEncoderDecoder.{name} must be at least 1 (or null: never), got {value}")
        if not lr_factor > 0:
            raise ConfigError(f"FreezeEncoderDecoder.lr_factor must be positive, got {lr_factor}")
        self.unfreeze_at_step = unfreeze_at_step
        self.unfreeze_at_epoch = unfreeze_at_epoch
        self.lr_factor = lr_factor
        self.reinitialize = reinitialize
        self.unfrozen_at_step: int | None = None

    @property
    def unfreezes(self) -> bool:
        """Whether the pairs are to be unfrozen during the run."""
        return self.unfreeze_at_step is not None or self.unfreeze_at_epoch is not None

    # ----------------------------------------------------------------------------------------------- hooks
    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        if self.unfreezes and trainer.world_size > 1:
            raise ConfigError(
                "FreezeEncoderDecoder cannot unfreeze under a multi-process strategy: DDP fixes the parameters "
                "whose gradients it averages when it wraps the model. Freeze for the whole run (no "
                "unfreeze_at_step/unfreeze_at_epoch) or train on one device."
            )
        ensure_model = getattr(pl_module, "ensure_model", None)
        if ensure_model is not None:
            ensure_model()  # the frozen pairs must exist before configure_optimizers
        super().setup(trainer, pl_module, stage)  # calls freeze_before_training

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        shared = _shared_pairs(pl_module)
        self.freeze(shared)
        if self.reinitialize and all(torch.count_nonzero(pair.decoder) == 0 for pair in shared.values()):
            _draw_frozen_pairs(_adapted_model(pl_module))

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.unfreezes:
            _schedule(trainer, pl_module)  # refused now rather than at the unfreeze
        # Resuming from a checkpoint taken after the unfreeze: the optimizer was just built without the
        # pairs; give it their group back before Lightning loads the saved optimizer state into it.
        if self.unfrozen_at_step is not None:
            self._unfreeze(trainer, pl_module, self.unfrozen_at_step)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        # global_step counts finished optimizer steps, so this is the first micro-batch of step
        # unfreeze_at_step + 1: the whole accumulation window sees the unfrozen pairs.
        step = trainer.global_step
        if self.unfreeze_at_step is not None and self.unfrozen_at_step is None and step >= self.unfreeze_at_step:
            self._unfreeze(trainer, pl_module, step)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: torch.optim.Optimizer) -> None:
        if self.unfreeze_at_epoch is not None and self.unfrozen_at_step is None and epoch >= self.unfreeze_at_epoch:
            self._unfreeze(pl_module.trainer, pl_module, pl_module.trainer.global_step)

    def state_dict(self) -> dict[str, Any]:
        return {"unfrozen_at_step": self.unfrozen_at_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.unfrozen_at_step = state_dict.get("unfrozen_at_step")

    # ---------------------------------------------------------------------------------------------- work
    def _unfreeze(self, trainer: L.Trainer, pl_module: L.LightningModule, step: int) -> None:
        shared = _shared_pairs(pl_module)
        self.make_trainable(shared)
        # Identity, not value, decides what the optimizer already holds (a zero decoder equals a zero M).
        held = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
        params = [p for p in self.filter_params(shared, requires_grad=True) if id(p) not in held]
        if params:
            _schedule(trainer, pl_module).add_group(params, scale=self.lr_factor, name=PARAM_GROUP_NAME)
        self.unfrozen_at_step = step
        rank_zero_info(f"FreezeEncoderDecoder: encoder/decoder pairs train from optimizer step {step + 1} on")


def _schedule(trainer: L.Trainer, pl_module: L.LightningModule) -> LearningRateSchedule:
    schedules = [c.scheduler for c in trainer.lr_scheduler_configs if isinstance(c.scheduler, LearningRateSchedule)]
    if len(schedules) != 1 or len(trainer.optimizers) != 1:
        raise ConfigError(
            "FreezeEncoderDecoder unfreezes by adding a parameter group to the run's one "
            f"denselora.training.schedule.LearningRateSchedule, and {type(pl_module).__name__}.configure_optimizers "
            "returns no such schedule (or several optimizers); return one, as denselora.training.FineTuner does"
        )
    return schedules[0]


def _adapted_model(pl_module: L.LightningModule) -> nn.Module:
    model = getattr(pl_module, "model", None)
    return pl_module if model is None else model


def _shared_pairs(pl_module: L.LightningModule) -> SharedEncoderDecoders:
    """The encoder/decoder pairs, as the module's method names its shared tensors."""
    adapter = getattr(pl_module, "adapter", None)
    model = _adapted_model(pl_module)
    if isinstance(adapter, AdapterMethod):
        shared = adapter.shared_modules(model)
    else:  # a module of one's own, without a method object: look for DenseLoRA's pairs
        try:
            shared = get_shared(model)
        except ValueError:
            shared = None
    if not isinstance(shared, SharedEncoderDecoders):
        method = getattr(adapter, "method", type(pl_module).__name__)
        raise ConfigError(
            f"FreezeEncoderDecoder freezes DenseLoRA's shared encoder/decoder pairs, and this run's model has "
            f"none (method {method!r}); use it with denselora.methods.DenseLoRA"
        )
    return shared


def _draw_frozen_pairs(model: nn.Module) -> None:
    init_for_frozen_pairs(model)
    rank_zero_info(
        "FreezeEncoderDecoder: the decoders were at their zero initialisation, under which a frozen pair trains "
        "nothing; drew them like the encoders and set every M to zero (the adapter still starts at zero output)"
    )
