"""The FSDP strategy of the trainer: FSDP2 data parallelism with adapter-only, single-file checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.strategies import ModelParallelStrategy, Strategy, StrategyRegistry

from denselora.distributed.fsdp import reshard

__all__ = ["FSDP_STRATEGY_NAME", "AdapterFSDPStrategy", "full_tensor"]

#: ``--trainer.strategy`` value that selects this strategy.
FSDP_STRATEGY_NAME = "denselora_fsdp"


def full_tensor(tensor: torch.Tensor) -> torch.Tensor:
    """The whole tensor behind an FSDP2 shard (a collective: every rank must call it), or ``tensor`` itself."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor


class AdapterFSDPStrategy(ModelParallelStrategy):
    """Shards the frozen base over all devices with FSDP2, and checkpoints only what trains.

    The sharding itself is :func:`denselora.distributed.shard_model`, applied by ``FineTuner.configure_model``
    (one group per decoder layer, the shared encoder/decoder pairs in the root group). This strategy differs
    from Lightning's ``ModelParallelStrategy`` in three ways:

    - every device is in the data-parallel dimension (no tensor parallelism), which is FSDP;
    - a checkpoint is one file written by rank 0 holding the adapter tensors gathered whole (``full_tensor``)
      and the optimizer state of the adapter parameters gathered likewise, never the frozen base (an 8B base is
      not written, nor all-gathered, at every save); it loads on a single device like any other checkpoint;
    - loading scatters those full tensors back into the shards.

    Args:
        **kwargs: ``ModelParallelStrategy`` arguments (``process_group_backend``, ``timeout``).
    """

    strategy_name = FSDP_STRATEGY_NAME

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("save_distributed_checkpoint", None)
        super().__init__(data_parallel_size="auto", tensor_parallel_size=1, save_distributed_checkpoint=False, **kwargs)

    @classmethod
    def register_strategies(cls, strategy_registry: StrategyRegistry) -> None:
        strategy_registry.register(cls.strategy_name, cls, description="FSDP2 with adapter-only checkpoints")

    def setup_environment(self) -> None:
        # Every process is one data-parallel shard; ModelParallelStrategy's "auto" would make it tensor-parallel.
        self._data_parallel_size = self.num_nodes * self.num_processes
        super().setup_environment()

    @property
    def lightning_restore_optimizer(self) -> bool:
        return True

    def lightning_module_state_dict(self) -> dict[str, Any]:
        # FineTuner.on_save_checkpoint writes the adapter (gathered); the sharded base is never gathered.
        return {}

    def optimizer_state(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        reshard(self.lightning_module)  # so the modules hold the sharded parameters the optimizer knows
        return get_optimizer_state_dict(self.lightning_module, optimizer, options=options)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: str | Path, storage_options: Any | None = None
    ) -> None:
        Strategy.save_checkpoint(self, checkpoint, filepath, storage_options)  # one file, rank 0

    def load_checkpoint(self, checkpoint_path: str | Path, weights_only: bool | None = None) -> dict[str, Any]:
        return self.checkpoint_io.load_checkpoint(checkpoint_path, weights_only=weights_only)

    def load_model_state_dict(self, checkpoint: dict[str, Any], strict: bool = True) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        options = StateDictOptions(full_state_dict=True, strict=False)
        set_model_state_dict(self.lightning_module, checkpoint["state_dict"], options=options)

    def load_optimizer_state_dict(self, checkpoint: dict[str, Any]) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        options = StateDictOptions(full_state_dict=True)
        for optimizer, state in zip(self.optimizers, checkpoint["optimizer_states"], strict=True):
            set_optimizer_state_dict(self.lightning_module, optimizer, state, options=options)
