"""The update-density snapshot file: the watched matrices at the start of training and at the latest step.

``<run>/update_density.safetensors`` holds, for every watched matrix, two float32 tensors
``<key>/initial`` and ``<key>/current`` (the ``r x r`` windows of :class:`denselora.analysis.TrackedMatrix`)
and, in the file's metadata, the method, the step and where each window sits in its matrix. It is a few
kilobytes at r=16, and what ``python -m denselora figure`` draws from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save
from torch import Tensor

from denselora.analysis.tracked import WatchedMatrixName
from denselora.errors import MissingRunFileError, UnreadableFileError
from denselora.run_layout import SNAPSHOT_FILE

__all__ = ["FORMAT", "SNAPSHOT_FILE", "MatrixSnapshot", "UpdateSnapshot"]


_REWRITE = "the UpdateDensityMonitor callback writes it again at its next snapshot step, or train again with it"
FORMAT = "denselora.update_density/1"


@dataclass
class MatrixSnapshot(WatchedMatrixName):
    """One watched matrix at the start and at the snapshot's step.

    Attributes:
        layer: block index.
        target: module name (``q_proj``).
        matrix: ``"M"``, ``"A"`` or ``"B"``.
        rows: the window's rows ``(start, stop)`` in the full matrix.
        cols: the window's columns ``(start, stop)``.
        initial: the window when training started, shape ``(rows, cols)`` of the window.
        current: the window at the snapshot's step, same shape.
    """

    layer: int
    target: str
    matrix: str
    rows: tuple[int, int]
    cols: tuple[int, int]
    initial: Tensor
    current: Tensor

    @property
    def delta(self) -> Tensor:
        """``current - initial``."""
        return self.current - self.initial


@dataclass
class UpdateSnapshot:
    """The watched matrices of one run at one step.

    Attributes:
        method: the adapter method (``denselora``, ``lora``, ``dora``).
        step: the optimizer step of ``current``.
        matrices: by key (``"layer0.q_proj/M"``), in the order they were watched.
    """

    method: str
    step: int
    matrices: dict[str, MatrixSnapshot]

    def groups(self) -> list[str]:
        """The adapted layers in the file (``"layer0.q_proj"``, ...), in order."""
        return list(dict.fromkeys(m.group for m in self.matrices.values()))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the file atomically (a reader never sees half of it) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {}
        layout = []
        for key, m in self.matrices.items():
            tensors[f"{key}/initial"] = m.initial.contiguous()
            tensors[f"{key}/current"] = m.current.contiguous()
            layout.append(
                {"key": key, "layer": m.layer, "target": m.target, "matrix": m.matrix, "rows": m.rows, "cols": m.cols}
            )
        metadata = {"format": FORMAT, "method": self.method, "step": str(self.step), "matrices": json.dumps(layout)}
        partial = path.with_name(f".{path.name}.partial")
        # Bytes written by Python, so the file gets the usual permissions (umask), as the run's other files.
        partial.write_bytes(save(tensors, metadata=metadata))
        os.replace(partial, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> UpdateSnapshot:
        """Read a file written by :meth:`save`.

        Raises:
            MissingRunFileError: there is no such file.
        """
        path = Path(path)
        if not path.is_file():
            raise MissingRunFileError(
                f"{path}: no update-density snapshot. It is written by the UpdateDensityMonitor callback; train "
                "with --config callbacks/update_density.yaml to get one."
            )
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
        except Exception as err:  # safetensors' own error type for a damaged header
            raise UnreadableFileError(f"{path}: not a readable update-density snapshot ({err}); {_REWRITE}") from None
        if metadata.get("format") != FORMAT:
            raise MissingRunFileError(f"{path} is not an update-density snapshot (format {metadata.get('format')!r})")
        try:
            tensors = load_file(str(path))
            matrices = {}
            for entry in json.loads(metadata["matrices"]):
                key = entry["key"]
                matrices[key] = MatrixSnapshot(
                    layer=int(entry["layer"]),
                    target=entry["target"],
                    matrix=entry["matrix"],
                    rows=tuple(entry["rows"]),
                    cols=tuple(entry["cols"]),
                    initial=tensors[f"{key}/initial"].to(torch.float32),
                    current=tensors[f"{key}/current"].to(torch.float32),
                )
            return cls(method=metadata["method"], step=int(metadata["step"]), matrices=matrices)
        except Exception as err:  # a truncated body, a damaged layout entry, a missing tensor
            raise UnreadableFileError(
                f"{path}: a damaged update-density snapshot ({type(err).__name__}: {err}); {_REWRITE}"
            ) from None
