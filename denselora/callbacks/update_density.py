"""A TensorBoard dashboard of how densely the adapter matrices are updated (the paper's Fig. 5 and App. B.3)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from denselora.analysis.heatmap import figure_to_array, render_heatmaps
from denselora.analysis.snapshot import SNAPSHOT_FILE, MatrixSnapshot, UpdateSnapshot
from denselora.analysis.statistics import update_statistics
from denselora.analysis.tracked import TrackedMatrix, find_tracked_matrices
from denselora.errors import ConfigError

__all__ = ["UpdateDensityMonitor"]

TAG = "update_density"


class UpdateDensityMonitor(Callback):
    """Logs how the adapter matrices of chosen layers have moved since training started.

    When fitting starts it keeps a CPU copy of the watched matrices: DenseLoRA's ``M`` (``r x r``), or an
    ``r x r`` slice of LoRA's (or DoRA's) ``A`` and ``B`` placed at random with a fixed seed, as the paper
    does (see :class:`denselora.analysis.TrackedMatrix`). Every ``every_n_steps`` optimizer steps, and when
    training ends, it compares them with their values now, ``Δ = W_now - W_start``, and logs:

    - to every logger, per matrix, ``update_density/<layer>.<target>/<matrix>/<statistic>`` with the
      statistics of :class:`denselora.analysis.UpdateStatistics`: ``active_share`` (share of entries whose
      ``|Δ|`` exceeds ``threshold`` times the matrix's largest ``|Δ|``), ``mean_over_max``
      (``mean |Δ| / max |Δ|``), ``effective_rank`` (``exp`` of the entropy of the normalised singular values
      of ``Δ``, in ``[1, r]``) and ``max_abs``;
    - to TensorBoard, per adapted layer, a heatmap image ``update_density/<layer>.<target>`` of ``|Δ|`` (one
      panel per matrix, one colour scale, one colour bar) and a histogram of ``Δ`` per matrix;
    - to ``<run>/update_density.safetensors``, the watched windows at the start and now (see
      :class:`denselora.analysis.UpdateSnapshot`), from which ``python -m denselora figure`` draws.

    Only rank 0 logs and writes. The starting copies are part of the callback's checkpoint state, so a resumed
    run keeps measuring from the true start. Without a TensorBoard logger the images and histograms are
    skipped (with one warning); without any logger only the snapshot file is written. Methods without such
    matrices (VeRA) get a warning and nothing else.

    The cost is that of the watched matrices only: one ``r x r`` copy each, and one small figure per adapted
    layer per logging step.

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

    # ----------------------------------------------------------------------------------------------- hooks
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._tracked = find_tracked_matrices(pl_module, self.layers, self.targets, self.seed)
        adapter = getattr(pl_module, "adapter", None)
        self._method = getattr(adapter, "method", None) or (self._tracked[0].method if self._tracked else "adapter")
        if not self._tracked:
            rank_zero_warn(
                f"UpdateDensityMonitor: no DenseLoRA M or LoRA A/B matrix matches layers={self.layers} and "
                f"targets={self.targets} in this model ({self._method}); it will log nothing"
            )
            return
        # Entries restored from a checkpoint stay: the update is measured from the start of the first run.
        for matrix in self._tracked:
            window = matrix.window()
            if matrix.key not in self._initial or self._initial[matrix.key].shape != window.shape:
                self._initial[matrix.key] = window
        if trainer.is_global_zero and self._tensorboard(trainer) is None and (self.heatmaps or self.histograms):
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

    def state_dict(self) -> dict[str, Any]:
        return {"initial": dict(self._initial)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._initial = dict(state_dict.get("initial", {}))

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

        metrics = {}
        for key, delta in deltas.items():
            for name, value in update_statistics(delta, self.threshold).as_dict().items():
                metrics[f"{TAG}/{key}/{name}"] = value
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)

        writer = self._tensorboard(trainer)
        if writer is not None:
            if self.heatmaps:
                for group, members in self._by_group().items():
                    panels = [(_panel_title(m), deltas[m.key].abs().numpy()) for m in members]
                    figure = render_heatmaps(panels, title=f"{self._method} {group}, step {step}")
                    writer.add_image(f"{TAG}/{group}", figure_to_array(figure), step, dataformats="HWC")
            if self.histograms:
                for key, delta in deltas.items():
                    writer.add_histogram(f"{TAG}/{key}", delta.flatten().numpy(), step)
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


def _panel_title(matrix: TrackedMatrix) -> str:
    if matrix.matrix == "M":
        return f"|ΔM|  {matrix.rows[1]}×{matrix.cols[1]}"
    return f"|Δ{matrix.matrix}|  rows {matrix.rows[0]}:{matrix.rows[1]}, cols {matrix.cols[0]}:{matrix.cols[1]}"
