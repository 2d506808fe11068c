"""``predict``'s answers to files: one JSON line per record, beside the checkpoint's run, never overwriting."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info

from denselora.checked_names import checked_name
from denselora.data.eval_sets import PREDICT_ALLOWED, PREDICT_SETTING
from denselora.data.protocol import PredictionData, required
from denselora.jsonl import append_rows, partial_path, write_rows
from denselora.run_layout import CHECKPOINTS_DIR, PREDICTIONS_DIR

__all__ = ["PredictionWriter", "claim_predictions_stem", "predictions_dir"]


class PredictionWriter(BasePredictionWriter):
    """Writes the rows that ``predict_step`` returns to ``<run>/predictions/<name>.jsonl``, in record order.

    ``python -m denselora predict`` adds one; from Python, put one in the Trainer's callbacks (without it,
    ``trainer.predict`` returns the rows and writes nothing). Each batch's rows (dicts with an ``index``, the
    record's position) are appended to this rank's partial file, ``<name>.rank<r>.partial.jsonl``, as they come,
    so a crash loses nothing already answered; when the epoch ends they are sorted by ``index`` and written
    whole to ``<name>.jsonl`` (rank ``r`` of several processes: ``<name>.rank<r>.jsonl``), and the partial file
    goes (see :mod:`denselora.jsonl`).

    ``<run>`` is the checkpoint's run when ``ckpt_path`` lies in one, else this command's (see
    :func:`predictions_dir`). An existing file is never overwritten: the next free ``<name>-1.jsonl``,
    ``<name>-2.jsonl``, ... is used instead.

    Args:
        name: the file's name less ``.jsonl``; ``None``: the name of the data module's ``predict_set``
            (:class:`~denselora.data.protocol.PredictionData`), which is the predict file's name.

    Attributes:
        predictions_file: where this rank's rows went (``None`` until a ``predict`` starts).
        predictions_stem: the file name chosen, less ``.jsonl`` and any rank (``name``, ``name-1``, ...).
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(write_interval="batch")
        self.name = name
        self.predictions_file: Path | None = None
        self.predictions_stem: str | None = None
        self._directory: Path | None = None
        self._wanted: str | None = None  # the name asked for; predictions_stem may be a numbered one
        self._rows: list[dict[str, Any]] = []
        self._rank = 0

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        name = self._wanted = self._name(trainer)
        log_dir = trainer.log_dir  # a collective (rank 0 broadcasts it): every rank asks
        directory = predictions_dir(Path(log_dir) if log_dir else Path(trainer.default_root_dir), trainer.ckpt_path)
        self._rank = trainer.global_rank
        stem = claim_predictions_stem(directory, name, self._rank) if trainer.is_global_zero else None
        self._directory = directory
        self._rows = []
        self.predictions_stem = trainer.strategy.broadcast(stem, src=0)
        rank = f".rank{self._rank}" if trainer.world_size > 1 else ""
        self.predictions_file = directory / f"{self.predictions_stem}{rank}.jsonl"

    def write_on_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        prediction: list[dict[str, Any]],
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        self._rows.extend(prediction)
        append_rows(self._partial_path(), prediction)

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rows = sorted(self._rows, key=lambda row: row["index"])
        self._rows = []
        write_rows(self.predictions_file, rows)
        self._partial_path().unlink(missing_ok=True)
        predict_set = getattr(trainer.datamodule, "predict_set", None)
        name = self._wanted
        note = "" if self.predictions_stem == name else f" ({name}.jsonl holds earlier ones)"
        source = f" of {predict_set.path}" if predict_set is not None else ""
        rank_zero_info(f"{len(rows)} predictions{source} written to {self.predictions_file}{note}")

    def _name(self, trainer: L.Trainer) -> str:
        if self.name is not None:
            return checked_name(self.name, "PredictionWriter.name", "a plain file name")
        predict_set = required(
            trainer.datamodule, "predict_set", PredictionData, "PredictionWriter", "give PredictionWriter a name"
        )
        return checked_name(predict_set.name, PREDICT_SETTING, PREDICT_ALLOWED)

    def _partial_path(self) -> Path:
        return partial_path(self._directory, self.predictions_stem, self._rank)


def predictions_dir(run_dir: Path, ckpt_path: str | os.PathLike | None) -> Path:
    """Where ``predict`` writes: beside the checkpoint's run when there is one, else in this command's run.

    A checkpoint at ``<run>/checkpoints/<x>.ckpt`` belongs to ``<run>``, and its predictions are read there,
    next to its config, adapter and evaluation: ``<run>/predictions``. Any other checkpoint (or none) gives
    ``<run_dir>/predictions``.

    Args:
        run_dir: this command's run directory.
        ckpt_path: the checkpoint ``predict`` loaded, if any.
    """
    if ckpt_path is not None and "://" not in str(ckpt_path):
        checkpoint = Path(ckpt_path).expanduser()
        if checkpoint.parent.name == CHECKPOINTS_DIR and checkpoint.is_file():
            return checkpoint.resolve().parent.parent / PREDICTIONS_DIR
    return Path(run_dir) / PREDICTIONS_DIR


def claim_predictions_stem(directory: Path, name: str, rank: int) -> str:
    """The first of ``name``, ``name-1``, ``name-2``, ... that no earlier or running ``predict`` has written.

    Creating this rank's partial file exclusively is the claim, so two commands started together never
    take the same name.

    Args:
        directory: the predictions folder (created if missing).
        name: the file name wanted, less ``.jsonl``.
        rank: the claiming process's global rank.
    """
    directory.mkdir(parents=True, exist_ok=True)
    number = 0
    while True:
        stem = name if number == 0 else f"{name}-{number}"
        number += 1
        pattern = glob.escape(stem)
        # Finished and temporary files, one or several ranks' (.rank<r>.jsonl), and partial ones
        # (.rank<r>.partial.jsonl).
        if any(directory.glob(f"{pattern}.jsonl*")) or any(directory.glob(f"{pattern}.rank*.jsonl*")):
            continue
        try:
            partial_path(directory, stem, rank).open("x").close()
        except FileExistsError:  # another predict claimed it between the listing and now
            continue
        return stem
