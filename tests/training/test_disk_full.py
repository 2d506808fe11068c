"""A full disk while saving a checkpoint, exporting the adapter or writing the evaluation: one message naming the
file, the previous file intact, nothing half-written left behind."""

from __future__ import annotations

import errno

import pytest
import torch

from denselora.errors import RunDirectoryError
from denselora.jsonl import write_rows
from denselora.training.atomic_checkpoint_io import AtomicCheckpointIO


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_checkpoint_save_on_a_full_disk_keeps_the_previous_one(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1}, path)

    def zip_writer_fails(obj, handle, *args, **kwargs):
        handle.write(b"half")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", zip_writer_fails)
    expected = rf"cannot write the checkpoint {path}: .*file write failed; {path} from before is intact"
    with pytest.raises(RunDirectoryError, match=expected):
        io.save_checkpoint({"global_step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_an_adapter_export_on_a_full_disk_is_one_message(tmp_path, monkeypatch):
    from denselora import DenseLoRAConfig, apply_denselora, save_adapter
    from denselora.methods.denselora import saving
    from tests.conftest import build_tiny_llama

    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4, target_modules=["q_proj"]))
    monkeypatch.setattr(saving, "save_file", _full)
    with pytest.raises(RunDirectoryError, match=r"cannot write the adapter to .*: No space left on device"):
        save_adapter(model, tmp_path / "adapter")
    assert not list((tmp_path / "adapter").iterdir())


def test_evaluation_rows_on_a_full_disk_leave_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "synth_boolq.jsonl"
    write_rows(path, [{"index": 0}])
    monkeypatch.setattr("pathlib.Path.open", _full)
    with pytest.raises(RunDirectoryError, match=rf"cannot write {path}: No space left on device"):
        write_rows(path, [{"index": 1}])
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["synth_boolq.jsonl"] and '"index": 0' in path.read_text()
