"""FSDP2 (``fully_shard``) for an adapted model, with the shared encoder/decoder pairs in the root group.

Where the shared pairs go is the one decision that matters. Every decoder layer uses its target's pair, but the
pair's module never runs a forward of its own (the layers read its tensors directly), so:

- inside each layer's group is impossible: one parameter cannot belong to several FSDP groups;
- in a group of its own it would never be unsharded, since FSDP2 gathers a group's parameters in the
  pre-forward hook of the group's module, and that module is never called;
- in the root group it works: the root's parameters are gathered when the model's forward starts and kept
  gathered through backward (FSDP2 does not reshard the root after forward), so every layer sees the full
  pair; their gradients are reduce-scattered with the root group's, after the last layer's backward.

The pairs are tiny (about 1 M parameters for LLaMA-3-8B at r=16), so holding them whole on every rank costs
nothing. Each decoder layer (frozen base weights plus its ``M``) is its own group, and so are the input
embeddings and the LM head when they are not tied, so the root holds little else. FSDP2 shards parameter by
parameter, so frozen base weights get no gradient buffers although they share groups with trainable ``M``s.
"""

from __future__ import annotations

import torch
from torch import nn

from denselora.errors import ConfigError

__all__ = ["copy_full_into", "decoder_layers", "is_sharded", "reshard", "shard_model"]


def decoder_layers(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a Hugging Face model (its ``_no_split_modules`` classes), in order."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(base, "_no_split_modules", None) or [])
    layers = [module for module in model.modules() if type(module).__name__ in names]
    if not layers:
        raise ConfigError(
            f"cannot find the decoder layers of this {type(base).__name__} to shard (it declares no "
            "_no_split_modules); override FineTuner.shard_model for it"
        )
    return layers


def shard_model(
    model: nn.Module,
    mesh,
    *,
    param_dtype: torch.dtype | None = None,
    reduce_dtype: torch.dtype | None = torch.float32,
) -> nn.Module:
    """Apply ``fully_shard`` to ``model`` in place: one group per decoder layer, the untied embeddings and LM
    head in their own groups, and the root group (holding the shared encoder/decoder pairs) last.

    Args:
        model: the adapted model (DenseLoRA or a PEFT baseline).
        mesh: the data-parallel device mesh.
        param_dtype: dtype parameters are gathered in for compute (``bfloat16`` for mixed precision).
        reduce_dtype: dtype gradients are reduced in (``float32`` keeps the adapters' updates exact).

    Returns:
        ``model``.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    embeddings, head = base.get_input_embeddings(), base.get_output_embeddings()
    if head is not None and embeddings is not None and head.weight is not embeddings.weight:
        fully_shard(embeddings, mesh=mesh, mp_policy=policy)
        fully_shard(head, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


@torch.no_grad()
def copy_full_into(param: torch.Tensor, full: torch.Tensor) -> None:
    """Copy a whole tensor into ``param``, which may be an FSDP2 shard (then this rank keeps its part)."""
    if hasattr(param, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        full = distribute_tensor(full.to(param.device, param.dtype), param.device_mesh, param.placements)
    param.copy_(full)


def reshard(model: nn.Module) -> None:
    """Put every FSDP2 group of ``model`` back in its sharded state.

    FSDP2 does not reshard the root group after a forward (its parameters are needed again for backward), so
    after a forward without backward (validation, generation) the root's modules hold gathered copies, not the
    sharded parameters the optimizer owns; reading or saving state in between must reshard first.
    """
    from torch.distributed.fsdp import FSDPModule

    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.reshard()


def is_sharded(model: nn.Module) -> bool:
    """Whether ``model`` was sharded with FSDP2."""
    from torch.distributed.fsdp import FSDPModule

    return any(isinstance(module, FSDPModule) for module in model.modules())
