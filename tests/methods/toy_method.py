"""A native adapter method defined outside the package, as a user would write one: a trainable per-output scale
of each adapted layer's frozen output, ``y = W0 h + b + s * (W0 h)`` with ``s`` starting at zero."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from denselora.analysis import TrackedMatrix, watched_layers
from denselora.methods import AdapterMethod, register_method


class ScaledLinear(nn.Module):
    def __init__(self, base: nn.Linear) -> None:
        super().__init__()
        self.base = base
        self.scale = nn.Parameter(torch.zeros(1, base.out_features, dtype=base.weight.dtype))

    def forward(self, hidden: Tensor) -> Tensor:
        out = self.base(hidden)
        return out + self.scale[0] * (out - (0 if self.base.bias is None else self.base.bias))


@register_method
class ToyScale(AdapterMethod):
    method = "toyscale"
    display_name = "Toy scale"

    def __init__(self, target_modules: list[str] | None = None) -> None:
        self.target_modules = target_modules or ["q_proj", "v_proj"]

    def apply(self, model: nn.Module) -> nn.Module:
        model.requires_grad_(False)
        for path, module in list(model.named_modules()):
            if path.rpartition(".")[2] in self.target_modules and isinstance(module, nn.Linear):
                parent = model.get_submodule(path.rpartition(".")[0])
                setattr(parent, path.rpartition(".")[2], ScaledLinear(module))
        return model

    def adapter_tensors(self, model: nn.Module) -> dict[str, Tensor]:
        return {name: p.detach() for name, p in model.named_parameters() if name.endswith(".scale")}

    def export(self, model: nn.Module, directory: str | os.PathLike, state: dict[str, Tensor] | None = None) -> Path:
        Path(directory).mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in (state or self.adapter_tensors(model)).items()},
                  Path(directory) / "toy.safetensors")  # fmt: skip
        return Path(directory)

    def load(self, model: nn.Module, directory: str | os.PathLike) -> nn.Module:
        model = self.apply(model)
        model.load_state_dict(load_file(Path(directory) / "toy.safetensors"), strict=False)
        return model

    def summary(self, model: nn.Module) -> str:
        return f"toy scale: {sum(t.numel() for t in self.adapter_tensors(model).values())} trainable"

    def tracked_matrices(self, model, layers=(0,), targets=None, seed=0) -> list[TrackedMatrix]:
        return [
            TrackedMatrix(layer, target, "s", self.method, (0, 1), (0, 4), module.scale)
            for layer, target, module in watched_layers(model, ScaledLinear, layers, targets)
        ]
