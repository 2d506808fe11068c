"""Injecting DenseLoRA into a model: find the target linear layers, build the shared pairs, swap the layers."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

from denselora.errors import ConfigError
from denselora.methods.adapter_module import get_adapter_params, set_trainable_params
from denselora.methods.denselora.config import DenseLoRAConfig
from denselora.methods.denselora.layer import DenseLoRALinear
from denselora.methods.denselora.shared import EncoderDecoder, SharedEncoderDecoders
from denselora.methods.targets import CONV1D_ADVICE, is_conv1d, select_names

__all__ = [
    "SHARED_MODULE_NAME",
    "Target",
    "adapted_layers",
    "apply_denselora",
    "find_targets",
    "get_shared",
    "has_denselora",
    "init_for_frozen_pairs",
]

#: Attribute of the root module under which the shared encoder/decoder pairs are registered.
SHARED_MODULE_NAME = "denselora"


@dataclass(frozen=True)
class Target:
    """A linear layer selected for adaptation, and the sharing group it joins."""

    path: str
    module: nn.Linear
    group: str


def apply_denselora(model: nn.Module, config: DenseLoRAConfig) -> nn.Module:
    """Adapt ``model`` in place with DenseLoRA and return it.

    Every ``nn.Linear`` selected by ``config.target_modules`` is replaced by a :class:`DenseLoRALinear`
    that adopts its weight and bias; one :class:`EncoderDecoder` per sharing group is registered at
    ``model.denselora``; every base parameter is frozen. Works on the ``meta`` device (nothing is allocated),
    so parameter counts of very large models are instant. Initialisation draws from torch's global RNG in a
    fixed order (shared pairs by first appearance, then each layer's ``M``), so a seed reproduces it.

    Args:
        model: any module containing ``nn.Linear`` layers (a Hugging Face causal LM, for instance).
        config: what to adapt and how.

    Returns:
        ``model`` itself, adapted.

    Raises:
        ConfigError: a target name matches no linear layer while ``config.missing_targets`` is ``"error"``,
            or the targets match none at all (the message lists the linear layer names the model has); a
            target is not an ``nn.Linear`` (GPT-2's ``Conv1D`` included: the message says what to do instead);
            ``r`` exceeds a target's dimensions; or the model is already adapted.
    """
    if not isinstance(config, DenseLoRAConfig):
        raise TypeError(f"config must be a DenseLoRAConfig, got {type(config).__name__}")
    if has_denselora(model):
        raise ConfigError(
            "this model already has DenseLoRA adapters; apply_denselora works on a model without them. "
            "Load a saved adapter with denselora.load_adapter, or start again from a fresh base model."
        )
    if hasattr(model, SHARED_MODULE_NAME):
        raise ConfigError(
            f"the model already has an attribute {SHARED_MODULE_NAME!r}, where DenseLoRA registers its shared "
            "encoder/decoder pairs; rename it before adapting the model"
        )
    targets = find_targets(model, config)
    groups = _build_groups(targets, config)

    for param in model.parameters():
        param.requires_grad_(False)
    for target in targets:
        layer = DenseLoRALinear(
            target.module,
            groups[target.group],
            group=target.group,
            scale=config.scale,
            activation=config.activation,
            dropout=config.dropout,
            dropout_sites=config.dropout_sites,
            dtype=config.torch_dtype,
            fused=config.fused,
        )
        layer.train(target.module.training)  # a new module starts in training mode; keep the model's mode
        parent_path, _, child_name = target.path.rpartition(".")
        model.get_submodule(parent_path).register_module(child_name, layer)
    shared = SharedEncoderDecoders(config, groups).train(model.training)
    model.register_module(SHARED_MODULE_NAME, shared)
    if not config.train_encoder_decoder:
        init_for_frozen_pairs(model)

    trainable = get_adapter_params(model)
    if not config.train_encoder_decoder:
        frozen = {id(p) for p in shared.parameters()}
        trainable = {name: p for name, p in trainable.items() if id(p) not in frozen}
    set_trainable_params(model, trainable)
    return model


@torch.no_grad()
def init_for_frozen_pairs(model: nn.Module) -> None:
    """Re-initialise an adapted model for frozen encoder/decoder pairs (the paper's "Freeze").

    With the usual initialisation ``W_d = 0``, a frozen decoder keeps the adapter's output, and so the gradient
    of every ``M``, at exactly zero for the whole run: nothing would train. So the decoders are drawn like the
    encoders (kaiming-uniform, ``a = sqrt(5)``) and every ``M`` starts at zero instead; the adapter still
    outputs exactly zero at step 0 (as LoRA's ``B = 0``), and ``M`` gets its gradient from the first step.
    """
    for pair in get_shared(model).values():
        nn.init.kaiming_uniform_(pair.decoder, a=math.sqrt(5))
    for layer in adapted_layers(model).values():
        nn.init.zeros_(layer.M)


def has_denselora(model: nn.Module) -> bool:
    """Whether ``model`` carries DenseLoRA adapters."""
    return isinstance(getattr(model, SHARED_MODULE_NAME, None), SharedEncoderDecoders) or any(
        isinstance(m, DenseLoRALinear) for m in model.modules()
    )


def get_shared(model: nn.Module) -> SharedEncoderDecoders:
    """The container of shared encoder/decoder pairs of an adapted model."""
    shared = getattr(model, SHARED_MODULE_NAME, None)
    if not isinstance(shared, SharedEncoderDecoders):
        raise ValueError("this model has no DenseLoRA adapters; call denselora.apply_denselora(model, config) first")
    return shared


def adapted_layers(model: nn.Module) -> dict[str, DenseLoRALinear]:
    """The adapted layers of ``model`` by module name, in module order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, DenseLoRALinear)}


def find_targets(model: nn.Module, config: DenseLoRAConfig) -> list[Target]:
    """The layers ``apply_denselora(model, config)`` would adapt, with their groups; changes nothing.

    Raises:
        ConfigError: as :func:`apply_denselora` does for bad targets or rank.
    """
    linears: dict[str, nn.Linear] = {}
    matched: list[tuple[str, nn.Module]] = []
    for path, module in model.named_modules():
        if isinstance(module, nn.Linear):
            linears[path] = module
        if path and config.matches(path):
            matched.append((path, module))

    not_linear = [(p, m) for p, m in matched if not isinstance(m, nn.Linear)]
    if not_linear:
        path, module = not_linear[0]
        if is_conv1d(module):
            raise ConfigError(
                f"target_modules={config.target_modules!r} selects {path!r}, a transformers Conv1D: {CONV1D_ADVICE}"
            )
        raise ConfigError(
            f"target_modules={config.target_modules!r} selects {path!r}, a {type(module).__name__}, but DenseLoRA "
            f"adapts nn.Linear layers only ({len(not_linear)} such module(s) selected). Name the linear layers "
            f"themselves; this model has: {_describe_linears(linears)}"
        )
    # Every name must select a layer, unless the config says otherwise: a name that matched nothing would
    # leave the run training part of what was asked, and nothing would say so.
    select_names(model, config.target_modules, config.missing_targets, method="DenseLoRA")
    custom = [(p, m) for p, m in matched if type(m).forward is not nn.Linear.forward]
    if custom:
        path, module = custom[0]
        raise ConfigError(
            f"{path!r} is a {type(module).__name__}, a subclass of nn.Linear with its own forward (quantized or "
            "otherwise customised); DenseLoRA adapts plain nn.Linear layers only"
        )

    for path, module in matched:
        if config.r > min(module.in_features, module.out_features):
            raise ConfigError(
                f"r={config.r} is larger than layer {path!r} allows: it maps {module.in_features} -> "
                f"{module.out_features}, so the rank can be at most {min(module.in_features, module.out_features)}"
            )
    return _assign_groups(matched, config)


def _assign_groups(matched: list[tuple[str, nn.Linear]], config: DenseLoRAConfig) -> list[Target]:
    if config.sharing == "layer":
        return [Target(path, module, path.replace(".", "__")) for path, module in matched]
    shapes_by_name: dict[str, set[tuple[int, int]]] = {}
    for path, module in matched:
        shapes_by_name.setdefault(path.rpartition(".")[2], set()).add((module.out_features, module.in_features))
    targets = []
    for path, module in matched:
        name = path.rpartition(".")[2]
        # One pair per name, as the paper; a name whose layers differ in shape cannot share one pair.
        group = name if len(shapes_by_name[name]) == 1 else f"{name}_{module.out_features}x{module.in_features}"
        targets.append(Target(path, module, group))
    return targets


def _build_groups(targets: list[Target], config: DenseLoRAConfig) -> dict[str, EncoderDecoder]:
    groups: dict[str, EncoderDecoder] = {}
    for target in targets:
        if target.group not in groups:
            weight = target.module.weight
            groups[target.group] = EncoderDecoder(
                target.module.in_features,
                target.module.out_features,
                config.r,
                device=weight.device,
                dtype=config.torch_dtype or weight.dtype,
            )
    return groups


def _describe_linears(linears: dict[str, nn.Linear], shown: int = 8) -> str:
    if not linears:
        return "no nn.Linear layers at all"
    counts = Counter(path.rpartition(".")[2] for path in linears)
    names = ", ".join(f"{name} (x{n})" for name, n in list(counts.items())[:shown])
    more = f", and {len(counts) - shown} more names" if len(counts) > shown else ""
    example = next(iter(linears))
    return f"{len(linears)} nn.Linear layers named {names}{more}; e.g. {example!r}"
