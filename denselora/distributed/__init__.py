"""Scaling out: FSDP2 sharding of an adapted model and the strategy that checkpoints only the adapter."""

from lightning.pytorch.strategies import StrategyRegistry

from denselora.distributed.fsdp import copy_full_into, decoder_layers, is_sharded, reshard, shard_model
from denselora.distributed.strategy import FSDP_STRATEGY_NAME, AdapterFSDPStrategy, full_tensor

if FSDP_STRATEGY_NAME not in StrategyRegistry:
    AdapterFSDPStrategy.register_strategies(StrategyRegistry)

__all__ = [
    "FSDP_STRATEGY_NAME",
    "AdapterFSDPStrategy",
    "copy_full_into",
    "decoder_layers",
    "full_tensor",
    "is_sharded",
    "reshard",
    "shard_model",
]
