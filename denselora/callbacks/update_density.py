"""A TensorBoard dashboard of how densely the adapter matrices are updated (the paper's Fig. 5 and App. B.3)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from denselora.analysis.curves import render_density_curves
from denselora.analysis.heatmap import figure_to_array, render_heatmaps
from denselora.analysis.snapshot import MatrixSnapshot, UpdateSnapshot
from denselora.analysis.statistics import update_statistics
from denselora.analysis.tracked import TrackedMatrix
from denselora.errors import ConfigError
from denselora.methods import AdapterMethod, display_name, find_tracked_matrices
from denselora.run_layout import SNAPSHOT_FILE

__all__ = ["UpdateDensityMonitor", "density_layout"]

#: Per adapted layer, statistics that mean the same for every method, so runs of different methods share a chart.
TAG = "density"
#: Per watched matrix (``M``, ``A``, ``B``), all statistics. TensorBoard lists its sections by name with ``_``
#: as a break, so ``density_by_matrix`` would come before ``density``; this one comes after the comparison.
MATRIX_TAG = "update_density"
#: The statistics that are fractions of a matrix's own largest change (or a count of directions), and so
#: compare across methods; ``max_abs`` depends on the method's scale and is logged per matrix only.
COMPARABLE = ("active_share", "mean_over_max", "effective_rank")
#: The image logged when training ends: every watched matrix's ``active_share`` over the run, labelled.
SUMMARY_TAG = "density_over_training"


class UpdateDensityMonitor(Callback):
    """Logs how the adapter matrices of chosen layers have moved since training started.

    When fitting starts it keeps a CPU copy of the watched matrices: DenseLoRA's ``M`` (``r x r``), or an
    ``r x r`` slice of LoRA's (or DoRA's) ``A`` and ``B`` placed at random with a fixed seed, as the paper
    does (see :class:`denselora.analysis.TrackedMatrix`). Every ``every_n_steps`` optimizer steps, and when
    training ends, it compares them with their values now, ``Δ = W_now - W_start``, and logs:

    - to every logger, per adapted layer, ``density/<layer>.<target>/<statistic>`` for ``active_share`` (share
      of entries whose ``|Δ|`` exceeds ``threshold`` times their matrix's largest ``|Δ|``), ``mean_over_max``
      (``mean |Δ| / max |Δ|``) and ``effective_rank`` (``exp`` of the entropy of the normalised singular values
      of ``Δ``, in ``[1, r]``): DenseLoRA's ``M``, or the mean over LoRA's ``A`` and ``B`` windows (which, for
      the two shares, is the share over all their watched entries). The tag does not name the matrix, so a
      DenseLoRA run and a LoRA run of the same layer draw on one TensorBoard chart;
    - to every logger, per matrix, ``update_density/<layer>.<target>/<matrix>/<statistic>`` with all
      statistics of :class:`denselora.analysis.UpdateStatistics`, ``max_abs`` included;
    - to TensorBoard, per matrix, a heatmap image ``density/<layer>.<target>/<matrix>`` of ``|Δ|`` with its
      colour bar and a histogram of ``Δ``, ``update_density/<layer>.<target>/<matrix>``; and, once when
      fitting starts, a custom-scalars layout whose first charts overlay the methods' ``active_share`` per
      layer;
    - to TensorBoard, when training ends, one image ``density_over_training``: each layer's ``active_share`` (the
      ``density/`` scalar) at every logged step, on a y-axis fixed at 0 to 1, with a legend naming the layers,
      each in the same colour in every run that watches the same layers;
    - to ``<run>/update_density.safetensors``, the watched windows at the start and now (see
      :class:`denselora.analysis.UpdateSnapshot`), from which ``python -m denselora figure`` draws.

    Only rank 0 logs and writes. The starting copies are part of the callback's checkpoint state, so a resumed
    run keeps measuring from the true start. Without a TensorBoard logger the images and histograms are
    skipped (with one warning); without any logger only the snapshot file is written. Methods without such
    matrices (VeRA) get a warning and nothing else.

    The cost is that of the watched matrices only: one ``r x r`` copy each, and one small figure per watched
    matrix per logging step.

    Args:
        every_n_steps: optimizer steps between two logs.
        layers: block indices to watch (``-1`` is the last block); ``None`` watches every block.
        targets: module names to watch (``[q_proj, up_proj]``); ``None`` watches every adapted name.
        threshold: the fraction of ``max |Δ|`` above which an entry counts as updated, in ``(0, 1)``.
        seed: where LoRA's ``r x r`` slices fall.
        heatmaps: log the heatmap images.
        histograms: log the histograms.
        save_snapshot: write ``update_density.safetensors`` into the run directory.
    """

    def __init__(
        self,
        every_n_steps: int = 50,
        layers: Sequence[int] | None = (0,),
        targets: Sequence[str] | None = None,
        threshold: float = 0.1,
        seed: int = 0,
        heatmaps: bool = True,
        histograms: bool = True,
        save_snapshot: bool = True,
    ) -> None:
        if every_n_steps < 1:
            raise ConfigError(f"UpdateDensityMonitor.every_n_steps must be at least 1, got {every_n_steps}")
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"UpdateDensityMonitor.threshold must be in (0, 1), got {threshold}")
        self.every_n_steps = every_n_steps
        self.layers = None if layers is None else list(layers)
        self.targets = None if targets is None else list(targets)
        self.threshold = threshold
        self.seed = seed
        self.heatmaps = heatmaps
        self.histograms = histograms
        self.save_snapshot = save_snapshot
        self._tracked: list[TrackedMatrix] = []
        self._initial: dict[str, Tensor] = {}
        self._method = "adapter"
        self._logged_at_step = -1
        self._history: dict[str, list[tuple[int, float]]] = {}

    # ----------------------------------------------------------------------------------------------- hooks
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        adapter = getattr(pl_module, "adapter", None)
        if isinstance(adapter, AdapterMethod):  # the method says which of its matrices to watch
            self._tracked = adapter.tracked_matrices(pl_module.model, self.layers, self.targets, self.seed)
            self._method = adapter.method
        else:
            self._tracked = find_tracked_matrices(pl_module, self.layers, self.targets, self.seed)
            self._method = self._tracked[0].method if self._tracked else "adapter"
        if not self._tracked:
            rank_zero_warn(
                f"UpdateDensityMonitor: the method ({self._method}) watches no matrix at layers={self.layers} and "
                f"targets={self.targets} in this model; it will log nothing"
            )
            return
        # Entries restored from a checkpoint stay: the update is measured from the start of the first run.
        for matrix in self._tracked:
            window = matrix.window()
            if matrix.key not in self._initial or self._initial[matrix.key].shape != window.shape:
                self._initial[matrix.key] = window
        writer = self._tensorboard(trainer) if trainer.is_global_zero else None
        if writer is not None:
            writer.add_custom_scalars(density_layout(list(self._by_group())))
        if trainer.is_global_zero and writer is None and (self.heatmaps or self.histograms):
            rank_zero_warn(
                "UpdateDensityMonitor: no TensorBoardLogger among the trainer's loggers, so no heatmaps or "
                "histograms; the scalars go to the other loggers, if any, and the snapshot file is still written"
            )

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step
        # Called for every micro-batch; log once, right after the optimizer step that reached the multiple.
        if step and step % self.every_n_steps == 0 and step != self._logged_at_step:
            self.log_updates(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self._logged_at_step:
            self.log_updates(trainer)
        writer = self._tensorboard(trainer) if trainer.is_global_zero else None
        if writer is not None and self._history:
            method = display_name(self._method)
            figure = render_density_curves(
                self._history, title=f"{method}: entries with |Δ| > {self.threshold:g} x max |Δ|"
            )
            writer.add_image(SUMMARY_TAG, figure_to_array(figure), trainer.global_step, dataformats="HWC")
            writer.flush()

    def state_dict(self) -> dict[str, Any]:
        return {"initial": dict(self._initial), "history": {k: list(v) for k, v in self._history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._initial = dict(state_dict.get("initial", {}))
        # Checkpoints written before the history was kept have none: the picture then starts at the resume.
        self._history = {k: [tuple(p) for p in v] for k, v in state_dict.get("history", {}).items()}

    # ------------------------------------------------------------------------------------------- logging
    def log_updates(self, trainer: L.Trainer) -> None:
        """Log the statistics, heatmaps and histograms of the updates now, and write the snapshot file."""
        step = trainer.global_step
        self._logged_at_step = step
        run_dir = self._run_dir(trainer)  # Trainer.log_dir is a collective: every rank asks
        if not self._tracked or not trainer.is_global_zero:
            return
        current = {m.key: m.window() for m in self._tracked}
        deltas = {key: current[key] - self._initial[key] for key in current}

        statistics = {key: update_statistics(delta, self.threshold).as_dict() for key, delta in deltas.items()}
        metrics = {}
        for group, members in self._by_group().items():
            for name in COMPARABLE:
                metrics[f"{TAG}/{group}/{name}"] = sum(statistics[m.key][name] for m in members) / len(members)
        for key, values in statistics.items():
            for name, value in values.items():
                metrics[f"{MATRIX_TAG}/{key}/{name}"] = value
        for group in self._by_group():
            self._history.setdefault(group, []).append((step, metrics[f"{TAG}/{group}/active_share"]))
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

        writer = self._tensorboard(trainer)
        if writer is not None:
            method = display_name(self._method)
            for matrix in self._tracked:
                delta = deltas[matrix.key]
                if self.heatmaps:
                    # One image per matrix, about as wide as TensorBoard's image card, so its text is drawn at
                    # about the size it was set in rather than shrunk to fit.
                    figure = render_heatmaps(
                        [(_panel_title(matrix), delta.abs().numpy())],
                        title=f"{method} {matrix.group}, step {step}",
                        panel_inches=2.6,
                        title_size=11,
                    )
                    writer.add_image(f"{TAG}/{matrix.key}", figure_to_array(figure), step, dataformats="HWC")
                if self.histograms:
                    # Not the image's tag: TensorBoard keeps one kind of data per tag, and shows neither when
                    # an image and a histogram share one.
                    writer.add_histogram(f"{MATRIX_TAG}/{matrix.key}", delta.flatten().numpy(), step)
            writer.flush()

        if self.save_snapshot:
            self._snapshot(step, current).save(run_dir / SNAPSHOT_FILE)

    def _by_group(self) -> dict[str, list[TrackedMatrix]]:
        groups: dict[str, list[TrackedMatrix]] = {}
        for matrix in self._tracked:
            groups.setdefault(matrix.group, []).append(matrix)
        return groups

    def _snapshot(self, step: int, current: dict[str, Tensor]) -> UpdateSnapshot:
        matrices = {
            m.key: MatrixSnapshot(m.layer, m.target, m.matrix, m.rows, m.cols, self._initial[m.key], current[m.key])
            for m in self._tracked
        }
        return UpdateSnapshot(method=self._method, step=step, matrices=matrices)

    @staticmethod
    def _tensorboard(trainer: L.Trainer):
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                return logger.experiment
        return None

    @staticmethod
    def _run_dir(trainer: L.Trainer) -> Path:
        return Path(trainer.log_dir or trainer.default_root_dir)


def density_layout(groups: Sequence[str]) -> dict[str, dict[str, list]]:
    """The custom-scalars layout of the density dashboard, for ``SummaryWriter.add_custom_scalars``.

    Each chart matches its tags by regular expression in every run TensorBoard has open, so one chart holds
    every method's curve for a layer. The first category is the comparison the paper's Fig. 5 makes, the share
    of entries that moved; then the other comparable statistics; last, each matrix on its own (``M``, ``A`` and
    ``B`` in one chart per layer).

    Args:
        groups: the watched layers, ``"layer0.q_proj"``, ...

    Returns:
        ``{category: {chart title: ["Multiline", [tag regex, ...]]}}``, categories and charts in display order.
    """
    titles = {
        "active_share": "share of entries that moved",
        "mean_over_max": "mean |Δ| / max |Δ|",
        "effective_rank": "effective rank of Δ",
    }
    layout = {}
    for name in COMPARABLE:
        layout[f"update density, all methods: {titles[name]}"] = {
            f"{group} {name}": ["Multiline", [rf"^{TAG}/{re.escape(group)}/{name}$"]] for group in groups
        }
    layout["update density by matrix: share of entries that moved"] = {
        f"{group} active_share (M, A, B)": ["Multiline", [rf"^{MATRIX_TAG}/{re.escape(group)}/[^/]+/active_share$"]]
        for group in groups
    }
    return layout


def _panel_title(matrix: TrackedMatrix) -> str:
    if matrix.matrix == "M":
        return f"|ΔM|, {matrix.rows[1]}×{matrix.cols[1]}"
    return f"|Δ{matrix.matrix}|, rows {matrix.rows[0]}:{matrix.rows[1]}, cols {matrix.cols[0]}:{matrix.cols[1]}"
