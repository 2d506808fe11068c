"""Heatmaps of update magnitudes on one shared colour scale, drawn with matplotlib's Agg renderer.

Only the object-oriented API is used (``Figure`` and ``FigureCanvasAgg``, never ``pyplot``), so rendering
needs no display, touches no global backend state, and is safe inside a training process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from denselora.errors import RunDirectoryError

__all__ = ["figure_to_array", "render_heatmaps", "save_figure"]


def render_heatmaps(
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    title: str | None = None,
    vmax: float | None = None,
    colorbar_label: str = "|Δ|",
    cmap: str = "viridis",
    panel_inches: float = 2.6,
    dpi: int = 100,
    title_size: float = 10,
):
    """Draw matrices side by side, all on one colour scale from 0 to ``vmax``, with one colour bar.

    Args:
        panels: ``(title, values)`` pairs; ``values`` of shape ``(rows, cols)``, non-negative.
        title: the figure's title.
        vmax: top of the colour scale; default: the largest value of all panels.
        colorbar_label: the colour bar's label.
        cmap: a matplotlib colour map name.
        panel_inches: width and height of one panel.
        dpi: resolution.
        title_size: font size of the figure's title, in points; panel titles, the colour bar's label and the
            tick labels are one and two points smaller.

    Returns:
        A ``matplotlib.figure.Figure`` (pass it to :func:`figure_to_array` or ``savefig``).
    """
    from matplotlib.figure import Figure

    if not panels:
        raise ValueError("render_heatmaps needs at least one panel")
    values = [np.asarray(v, dtype=np.float64) for _, v in panels]
    top = max(float(v.max()) if v.size else 0.0 for v in values) if vmax is None else float(vmax)
    top = top if top > 0 else 1e-12  # an all-zero update still gets a valid colour scale
    width, height = panel_inches * len(panels) + 1.2, panel_inches + (0.9 if title else 0.5)
    # Constrained layout sizes the margins from the text actually drawn, so long titles and the colour bar's
    # label stay inside the image; fixed margins cut them off once a title or a tick label grows.
    figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for ax, (name, _), data in zip(axes, panels, values, strict=True):
        image = ax.imshow(data, vmin=0.0, vmax=top, cmap=cmap, interpolation="nearest", aspect="equal")
        ax.set_title(name, fontsize=title_size - 1)
        # Ticks at the ends only: they say the size, and tick layout is most of the drawing time.
        ax.set_xticks([0, data.shape[1] - 1])
        ax.set_yticks([0, data.shape[0] - 1])
        ax.tick_params(labelsize=title_size - 2, length=2)
    bar = figure.colorbar(image, ax=list(axes), shrink=0.85)
    bar.set_label(colorbar_label, fontsize=title_size - 1)
    bar.ax.tick_params(labelsize=title_size - 2)
    if title:
        figure.suptitle(title, fontsize=title_size)
    return figure


def figure_to_array(figure) -> np.ndarray:
    """Render a figure to an RGB image, shape ``(height, width, 3)``, ``uint8`` (for TensorBoard's ``add_image``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_figure(figure, path: str | Path) -> Path:
    """Write a figure as a PNG and return the path written: a path without a suffix gets ``.png`` (matplotlib's
    own choice, said here so that the caller names the file it wrote).

    Raises:
        RunDirectoryError: the folder cannot be made or written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        FigureCanvasAgg(figure)
        figure.savefig(path)
    except OSError as err:
        raise RunDirectoryError(f"cannot write {path}: {err.strerror or err}; choose another -o") from None
    return path
