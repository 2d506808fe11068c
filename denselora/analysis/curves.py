"""A run's update density over training as one picture with fixed axes and a legend (the dashboard's summary)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["render_density_curves"]


def render_density_curves(
    curves: Mapping[str, Sequence[tuple[int, float]]],
    *,
    title: str,
    ylabel: str = "share of entries that moved",
    width_inches: float = 3.8,
    dpi: int = 100,
):
    """One line per curve against the optimizer step, on a y-axis fixed at 0 to 1, with a legend below.

    TensorBoard's scalar charts zoom each y-axis to its own data and name the runs only in a tooltip; a picture
    with fixed axes and labelled lines reads at a glance. Lines take the colours of matplotlib's cycle in the
    order given, so two runs that watch the same layers draw each layer in the same colour, and their pictures
    compare side by side. The default width is about that of TensorBoard's image card, so the text is shown at
    about the size it is drawn.

    Args:
        curves: a label (``"layer0.q_proj"``) -> its ``(step, value)`` points, values in ``[0, 1]``.
        title: the picture's title (the method, and what the values are).
        ylabel: the y-axis label.
        width_inches: the picture's width.
        dpi: resolution.

    Returns:
        A ``matplotlib.figure.Figure``.
    """
    from matplotlib.figure import Figure

    columns = 2
    legend_rows = -(-len(curves) // columns)
    figure = Figure(figsize=(width_inches, 2.6 + 0.17 * legend_rows), dpi=dpi, layout="constrained")
    ax = figure.subplots()
    for label, points in curves.items():
        steps, values = zip(*points, strict=True) if points else ((), ())
        ax.plot(steps, values, marker="o", markersize=3, linewidth=1.5, label=label)
    ax.set_ylim(0.0, 1.0)
    ax.set_xlabel("optimizer step", fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if curves:
        figure.legend(fontsize=8, loc="outside lower center", ncols=columns, frameon=False)
    figure.suptitle(title, fontsize=10)
    return figure
