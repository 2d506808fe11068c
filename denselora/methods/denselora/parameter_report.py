"""DenseLoRA's parameter table: trainable / total, per target name, beside LoRA's count at the same targets and
rank (the counts themselves: :mod:`denselora.methods.parameter_counts`)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from denselora.methods.adapter_module import get_adapter_params
from denselora.methods.denselora.inject import adapted_layers, get_shared
from denselora.methods.parameter_counts import ParameterCount, count_parameters

__all__ = ["ParameterReport", "TargetCount", "parameter_report"]


@dataclass(frozen=True)
class TargetCount:
    """Adapter parameters of the layers that share one target name (and shape).

    Attributes:
        name: the target name, e.g. ``"q_proj"``.
        layers: how many layers carry it.
        in_features: ``k``.
        out_features: ``d``.
        denselora: DenseLoRA parameters of these layers, counted from the tensors: the ``M`` of each layer
            plus each encoder/decoder pair they use (``(d + k + l*r) * r`` when shared by name).
        lora: what LoRA at the same rank would train on the same layers, ``l * (d + k) * r``.
    """

    name: str
    layers: int
    in_features: int
    out_features: int
    denselora: int
    lora: int


@dataclass(frozen=True)
class ParameterReport(ParameterCount):
    """What an adapted model trains: its :class:`ParameterCount` (``trainable``, ``total``, ``percent``) with the
    rank, the sharing and one row per target name.

    Attributes:
        r: the rank.
        sharing: how encoder/decoder pairs are shared (``"name"`` or ``"layer"``).
        targets: one row per target name (and shape).
        adapter: all adapter parameters, trainable or frozen (the "Freeze" variant freezes some).
    """

    r: int
    sharing: str
    targets: tuple[TargetCount, ...]
    adapter: int

    @property
    def lora(self) -> int:
        """LoRA's parameter count at the same targets and rank."""
        return sum(row.lora for row in self.targets)

    def __str__(self) -> str:
        lines = [
            f"DenseLoRA r={self.r}, encoder/decoder shared per {self.sharing}: {super().__str__()}; "
            f"adapter {self.adapter:,}",
            "",
            "| target | layers | d x k | DenseLoRA | LoRA, same r | LoRA / DenseLoRA |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for row in self.targets:
            lines.append(
                f"| {row.name} | {row.layers} | {row.out_features} x {row.in_features} | {row.denselora:,} | "
                f"{row.lora:,} | {row.lora / row.denselora:.1f}x |"
            )
        layers = sum(row.layers for row in self.targets)
        lines.append(f"| total | {layers} | | {self.adapter:,} | {self.lora:,} | {self.lora / self.adapter:.1f}x |")
        return "\n".join(lines)


def parameter_report(model: nn.Module) -> ParameterReport:
    """Count the parameters of a model adapted with :func:`denselora.apply_denselora` (meta device works)."""
    shared = get_shared(model)
    r = shared.config.r
    layers = adapted_layers(model)
    shapes_by_name: dict[str, set[tuple[int, int]]] = {}
    for path, layer in layers.items():
        shapes_by_name.setdefault(path.rpartition(".")[2], set()).add((layer.out_features, layer.in_features))

    rows: dict[tuple[str, int, int], dict] = {}
    for path, layer in layers.items():
        name = path.rpartition(".")[2]
        key = (name, layer.out_features, layer.in_features)
        row = rows.setdefault(key, {"layers": 0, "M": 0, "groups": {}})
        row["layers"] += 1
        row["M"] += layer.M.numel()
        pair = layer.encoder_decoder
        row["groups"][id(pair)] = pair.encoder.numel() + pair.decoder.numel()

    targets = []
    for (name, d, k), row in rows.items():
        label = name if len(shapes_by_name[name]) == 1 else f"{name} ({d}x{k})"
        targets.append(
            TargetCount(
                name=label,
                layers=row["layers"],
                in_features=k,
                out_features=d,
                denselora=row["M"] + sum(row["groups"].values()),
                lora=row["layers"] * (d + k) * r,
            )
        )
    count = count_parameters(model)
    return ParameterReport(
        trainable=count.trainable,
        total=count.total,
        r=r,
        sharing=shared.config.sharing,
        targets=tuple(targets),
        adapter=sum(p.numel() for p in get_adapter_params(model).values()),
    )
