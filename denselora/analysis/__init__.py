"""How adapter matrices move during training: which entries change, how densely, at what effective rank.

The paper's Fig. 5 and App. B.3 contrast DenseLoRA's dense ``r x r`` matrix ``M`` (most entries move) with
LoRA's ``A`` and ``B`` (most entries barely move). Each method names its watched matrices
(``AdapterMethod.tracked_matrices``); this package measures their updates and draws them as heatmaps, for the
:class:`denselora.callbacks.UpdateDensityMonitor` dashboard and the ``python -m denselora figure`` command.
"""

from denselora.analysis.heatmap import figure_to_array, render_heatmaps
from denselora.analysis.snapshot import SNAPSHOT_FILE, MatrixSnapshot, UpdateSnapshot
from denselora.analysis.statistics import UpdateStatistics, effective_rank, update_statistics
from denselora.analysis.tracked import TrackedMatrix, watched_layers, window_start

__all__ = [
    "SNAPSHOT_FILE",
    "MatrixSnapshot",
    "TrackedMatrix",
    "UpdateSnapshot",
    "UpdateStatistics",
    "effective_rank",
    "figure_to_array",
    "render_heatmaps",
    "update_statistics",
    "watched_layers",
    "window_start",
]
