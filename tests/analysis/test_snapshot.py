import pytest
import torch

from denselora.analysis import MatrixSnapshot, UpdateSnapshot
from denselora.errors import MissingRunFileError, UnreadableFileError, UserError


def test_a_snapshot_round_trips(tmp_path):
    initial, current = torch.randn(4, 4), torch.randn(4, 4)
    snapshot = UpdateSnapshot(
        method="lora",
        step=12,
        matrices={"layer1.q_proj/A": MatrixSnapshot(1, "q_proj", "A", (0, 4), (8, 12), initial, current)},
    )
    path = snapshot.save(tmp_path / "run" / "update_density.safetensors")
    loaded = UpdateSnapshot.load(path)
    assert (loaded.method, loaded.step, loaded.groups()) == ("lora", 12, ["layer1.q_proj"])
    matrix = loaded.matrices["layer1.q_proj/A"]
    assert (matrix.layer, matrix.target, matrix.matrix, matrix.rows, matrix.cols) == (1, "q_proj", "A", (0, 4), (8, 12))
    assert torch.equal(matrix.delta, current - initial)
    assert not list(path.parent.glob(".*partial"))


def test_a_missing_snapshot_is_a_user_error(tmp_path):
    with pytest.raises(MissingRunFileError, match=r"callbacks/update_density\.yaml") as info:
        UpdateSnapshot.load(tmp_path / "update_density.safetensors")
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_snapshot_is_a_user_error_naming_the_file(tmp_path, damage):
    initial = torch.randn(64, 64)
    snapshot = UpdateSnapshot(
        method="denselora",
        step=3,
        matrices={"layer0.q_proj/M": MatrixSnapshot(0, "q_proj", "M", (0, 64), (0, 64), initial, initial + 1)},
    )
    path = snapshot.save(tmp_path / "update_density.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a snapshot" * 8)
    with pytest.raises(UnreadableFileError, match=f"^{path}: ") as info:
        UpdateSnapshot.load(path)
    assert isinstance(info.value, UserError)
