"""What a fit leaves in its run directory besides checkpoints: ``parameters.json`` and the exported adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info

from denselora.distributed import is_sharded
from denselora.run_layout import ADAPTER_EXPORT_DIR
from denselora.training import checkpoint_contents
from denselora.training.best import best_checkpoint
from denselora.training.parameters_json import write_parameter_record

if TYPE_CHECKING:
    from denselora.training.finetuner import FineTuner

__all__ = ["AdapterExport"]


class AdapterExport(Callback):
    """Records what a fit trains and exports what it learned, for a :class:`~denselora.training.FineTuner`.

    - When fitting starts (after callbacks such as :class:`~denselora.callbacks.FreezeEncoderDecoder` have frozen
      what they freeze): prints the method's parameter table and writes ``<run>/parameters.json``.
    - When fitting ends: loads the best validated checkpoint's adapter, when a checkpoint callback monitors a
      score (the run's result is its best validated adapter, as the authors keep it), and writes the adapter in
      its library's own format to ``<run>/adapter/``.

    :class:`~denselora.training.FineTuner` adds it to every run.
    """

    def on_fit_start(self, trainer: L.Trainer, pl_module: FineTuner) -> None:
        rank_zero_info(pl_module.adapter.summary(pl_module.model))
        run_dir = pl_module.run_dir  # a collective: every rank asks
        if trainer.is_global_zero and run_dir is not None:
            write_parameter_record(pl_module.model, pl_module.adapter.method, pl_module.adapter.rank, run_dir)

    def on_fit_end(self, trainer: L.Trainer, pl_module: FineTuner) -> None:
        best = best_checkpoint(trainer)
        if best is not None:
            state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
            checkpoint_contents.load_adapter_tensors(state, pl_module.adapter, pl_module.model)
        run_dir = pl_module.run_dir  # collectives: every rank asks, and gathers a sharded adapter
        state = pl_module.adapter_state() if is_sharded(pl_module.model) else None
        if trainer.is_global_zero and run_dir is not None:
            directory = pl_module.adapter.export(pl_module.model, run_dir / ADAPTER_EXPORT_DIR, state)
            rank_zero_info(f"adapter written to {directory}")
