"""``python -m denselora figure``: the paper's side-by-side heatmaps of ``|ΔM|`` and ``|ΔA|``, ``|ΔB|`` (App. B.3).

It draws from the ``update_density.safetensors`` snapshot that :class:`denselora.callbacks.UpdateDensityMonitor`
writes into each run directory, so both runs must have been trained with ``callbacks/update_density.yaml``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from denselora.analysis.heatmap import render_heatmaps, save_figure
from denselora.analysis.snapshot import MatrixSnapshot, UpdateSnapshot
from denselora.analysis.statistics import update_statistics
from denselora.cli.finished_run_files import require_run_dir
from denselora.errors import ConfigError
from denselora.methods.registry import display_name
from denselora.run_layout import SNAPSHOT_FILE

__all__ = ["build_parser", "main", "render_comparison"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m denselora figure",
        description=(
            "Draw |ΔM| of a DenseLoRA run beside |ΔA| and |ΔB| of a LoRA (or DoRA) run, for one adapted layer, "
            "on one colour scale, from the update_density.safetensors each run directory holds (train with "
            "--config callbacks/update_density.yaml to get it)."
        ),
        epilog="example: python -m denselora figure runs/commonsense/version_0 runs/lora/version_0 -o fig5.png",
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (or snapshot files), drawn left to right")
    parser.add_argument("--layer", type=int, default=None, help="block index (default: the first one all runs have)")
    parser.add_argument("--target", default=None, help="module name, e.g. q_proj (default: as --layer)")
    parser.add_argument("-o", "--output", type=Path, default=Path("update_density.png"), help="the PNG to write")
    parser.add_argument(
        "--scale",
        choices=("relative", "absolute"),
        default="relative",
        help="relative: each matrix's |Δ| over its own largest, so patterns compare across methods whose "
        "updates differ in size (default); absolute: |Δ| itself",
    )
    parser.add_argument("--threshold", type=float, default=0.1, help="threshold of the 'active' share in the titles")
    parser.add_argument("--dpi", type=_dpi, default=150, help="resolution, 20 to 600 (default 150)")
    return parser


def _dpi(value: str) -> int:
    try:
        dpi = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if not 20 <= dpi <= 600:
        raise argparse.ArgumentTypeError(f"expected 20 to 600 dots per inch, got {dpi}")
    return dpi


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    snapshots = [_load(path) for path in args.runs]
    group = _choose_group(snapshots, args.runs, args.layer, args.target)
    figure = render_comparison(snapshots, group, scale=args.scale, threshold=args.threshold, dpi=args.dpi)
    path = save_figure(figure, args.output)
    print(f"wrote {path}")


def render_comparison(
    snapshots: list[UpdateSnapshot], group: str, *, scale: str = "relative", threshold: float = 0.1, dpi: int = 150
):
    """One panel per watched matrix of ``group`` (``"layer0.q_proj"``) in each snapshot, on one colour scale.

    Args:
        snapshots: one per run, drawn left to right.
        group: the adapted layer to draw.
        scale: ``"relative"`` (``|Δ| / max |Δ|`` per matrix) or ``"absolute"`` (``|Δ|``).
        threshold: the fraction of ``max |Δ|`` that counts an entry as active, for the panel titles.
        dpi: resolution.

    Returns:
        A matplotlib figure.
    """
    panels = []
    for snapshot in snapshots:
        for matrix in snapshot.matrices.values():
            if matrix.group != group:
                continue
            magnitude = matrix.delta.abs().numpy().astype(np.float64)
            if scale == "relative" and magnitude.max() > 0:
                magnitude = magnitude / magnitude.max()
            stats = update_statistics(matrix.delta, threshold)
            panels.append((_panel_title(snapshot, matrix, stats.active_share), magnitude))
    steps = ", ".join(f"{display_name(s.method)} step {s.step}" for s in snapshots)
    layer, _, target = group.partition(".")
    return render_heatmaps(
        panels,
        title=f"layer {layer.removeprefix('layer')} {target}: update since the start of training ({steps})",
        vmax=1.0 if scale == "relative" else None,
        colorbar_label="|Δ| / max |Δ|" if scale == "relative" else "|Δ|",
        panel_inches=2.8,
        dpi=dpi,
    )


def _panel_title(snapshot: UpdateSnapshot, matrix: MatrixSnapshot, active_share: float) -> str:
    method = display_name(snapshot.method)
    rows, cols = matrix.rows, matrix.cols
    where = "" if matrix.matrix == "M" else f" [{rows[0]}:{rows[1]}, {cols[0]}:{cols[1]}]"
    return f"{method} |Δ{matrix.matrix}|{where}\nactive {100 * active_share:.0f} %"


def _load(path: Path) -> UpdateSnapshot:
    if path.suffix == ".safetensors":
        return UpdateSnapshot.load(path)
    return UpdateSnapshot.load(require_run_dir(path) / SNAPSHOT_FILE)


def _choose_group(snapshots: list[UpdateSnapshot], paths: list[Path], layer: int | None, target: str | None) -> str:
    common = [g for g in snapshots[0].groups() if all(g in s.groups() for s in snapshots[1:])]
    wanted = [
        g
        for g in common
        if (layer is None or g.partition(".")[0] == f"layer{layer}")
        and (target is None or g.partition(".")[2] == target)
    ]
    if wanted:
        return wanted[0]
    listing = "; ".join(f"{path}: {', '.join(s.groups()) or 'none'}" for path, s in zip(paths, snapshots, strict=True))
    asked = " and ".join(
        part
        for part in (f"--layer {layer}" if layer is not None else "", f"--target {target}" if target else "")
        if part
    )
    raise ConfigError(
        f"no adapted layer {('matching ' + asked + ' ') if asked else ''}was watched in every run. Watched: {listing}"
    )
