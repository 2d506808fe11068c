"""Checking ``target_modules`` against a model before it is adapted, by DenseLoRA and the PEFT baselines alike.

A target name that matches nothing would otherwise be skipped in silence: the README's LLaMA targets on Phi-3
(fused ``qkv_proj``, ``gate_up_proj``) adapt ``down_proj`` alone, and the run trains a fraction of what was
asked. So every requested name must select a layer, unless the config says ``missing_targets: ignore``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from torch import nn

from denselora.errors import ConfigError

__all__ = ["CONV1D_ADVICE", "LLAMA_TARGETS", "MISSING_TARGETS", "is_conv1d", "layer_names", "matches", "select_names"]

#: The layers the paper adapts on LLaMA (Sec. 4; the authors' ``commonsense_reasoning/llama3_8B_denselora.sh`` in
#: mulin-ahu/DenseLoRA passes ``--target_modules '["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]'``), for
#: DenseLoRA and the LoRA, DoRA and VeRA baselines alike. A tuple, so that no default built from it can change it.
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "up_proj", "down_proj")

#: What to do about GPT-2-style ``Conv1D`` layers, which DenseLoRA does not adapt.
CONV1D_ADVICE = (
    "GPT-2's layer type, which stores its weight transposed (in x out); DenseLoRA adapts nn.Linear layers only. "
    "Adapt this model with denselora.methods.LoRA, DoRA or VeRA (PEFT adapts Conv1D layers), or, in Python, "
    "replace each Conv1D by an nn.Linear holding its weight.T and bias before apply_denselora."
)

#: Choices of ``missing_targets``: ``"error"`` refuses a target name that selects no layer, ``"ignore"`` adapts
#: the names that do select one.
MISSING_TARGETS = ("error", "ignore")


def matches(target_modules: Sequence[str] | str, module_name: str) -> bool:
    """Whether the dotted ``module_name`` is selected, as PEFT selects: a list of names matches whole trailing
    dotted components (``"q_proj"`` selects ``model.layers.0.self_attn.q_proj``, not ``xq_proj``); a string is
    one regular expression matched against the full name."""
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, module_name) is not None
    return any(module_name == target or module_name.endswith("." + target) for target in target_modules)


def is_conv1d(module: nn.Module) -> bool:
    """Whether ``module`` is transformers' ``Conv1D`` (GPT-2's linear layer, weight stored as ``(in, out)``)."""
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # without transformers there is no Conv1D to find
        return False
    return isinstance(module, Conv1D)


def layer_names(model: nn.Module, conv1d: bool = False) -> list[str]:
    """The leaf names of the model's linear layers, each once, in module order.

    Args:
        model: the model to look through.
        conv1d: count transformers' ``Conv1D`` layers (GPT-2) as linear layers too, as PEFT does.
    """
    names: dict[str, None] = {}
    for path, module in model.named_modules():
        if isinstance(module, nn.Linear) or (conv1d and is_conv1d(module)):
            names[path.rpartition(".")[2]] = None
    return list(names)


def select_names(
    model: nn.Module,
    target_modules: list[str] | str,
    missing_targets: str,
    *,
    method: str,
    conv1d: bool = False,
) -> list[str] | str:
    """Check that every name in ``target_modules`` selects a linear layer of ``model``.

    Args:
        model: the model about to be adapted.
        target_modules: names (matched as :func:`matches` says) or one regex, which is one request: it must
            select a layer whatever ``missing_targets`` says.
        missing_targets: ``"error"`` or ``"ignore"``.
        method: the adapter's name, for the message (``"DenseLoRA"``, ``"LoRA"``...).
        conv1d: whether the method adapts transformers' ``Conv1D`` layers too (PEFT does, DenseLoRA does not).

    Returns:
        The names that select a layer (all of them unless ``missing_targets`` is ``"ignore"``), or the regex
        unchanged.

    Raises:
        ConfigError: a name selects no layer and ``missing_targets`` is ``"error"``, or no name selects one;
            the message names them, lists the model's linear layer names and says how to go on.
    """
    if missing_targets not in MISSING_TARGETS:
        raise ConfigError(f"{method} missing_targets must be one of {list(MISSING_TARGETS)}, got {missing_targets!r}")
    paths = [
        path
        for path, module in model.named_modules()
        if path and (isinstance(module, nn.Linear) or (conv1d and is_conv1d(module)))
    ]
    regex = isinstance(target_modules, str)
    requested = [target_modules] if regex else target_modules
    found = [target for target in requested if any(matches(target if regex else [target], path) for path in paths)]
    missing = [target for target in requested if target not in found]
    if not missing or (found and missing_targets == "ignore"):
        return target_modules if regex else found
    kind = "linear (nn.Linear or Conv1D)" if conv1d else "nn.Linear"
    have = layer_names(model, conv1d=conv1d)
    what = f"regex {target_modules!r}" if regex else ", ".join(missing)
    verb = "matches" if len(missing) == 1 else "match"
    message = (
        f"{method} target_modules {what} {verb} no {kind} layer of this {type(model).__name__}; "
        f"its {kind} layers are named {', '.join(have) if have else '(none)'}. "
    )
    if not conv1d:
        skipped = [name for name in layer_names(model, conv1d=True) if name not in have]
        if skipped:
            message += f"Its layers {', '.join(skipped)} are transformers Conv1D: {CONV1D_ADVICE} "
    message += "Name the layers to adapt in target_modules"
    if found:
        message += f", or set missing_targets: ignore to adapt only the names that match ({', '.join(found)})"
    raise ConfigError(message + ".")
