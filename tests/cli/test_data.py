"""``python -m denselora data download``, through the command line's entry point, against local mirrors of fake
files (the manifest replaced by theirs)."""

from __future__ import annotations

import socket

import pytest

from denselora.__main__ import main
from tests.data.fake_mirror import FILES, serve, write_mirror

BOOLQ = ["DATA_LICENSE", "dataset/boolq/test.json", "dataset/boolq/train.json"]


@pytest.fixture
def mirror_root(tmp_path, monkeypatch):
    """A folder laid out like the repository, and the manifest that describes its files in place of the real one."""
    root = tmp_path / "mirror"
    monkeypatch.setattr("denselora.data.download.MANIFEST", write_mirror(root))
    return root


def _exit_code(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def test_a_file_url_mirror_fills_the_data_folder(mirror_root, tmp_path, capsys):
    data_dir = tmp_path / "data"
    argv = ["data", "download", "--data-dir", str(data_dir), "--sets", "boolq", "--training", "splits"]
    assert _exit_code([*argv, "--mirror", mirror_root.as_uri()]) == 0
    assert sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file()) == sorted(BOOLQ)
    for path in BOOLQ:
        assert (data_dir / path).read_bytes() == FILES[path]
    size = sum(len(FILES[path]) for path in BOOLQ)
    assert (
        capsys.readouterr().out.strip()
        == f"fetched 3 file(s) ({size / 1000:.1f} kB), 0 already present, into {data_dir}"
    )
    assert _exit_code([*argv, "--mirror", str(mirror_root)]) == 0  # a folder: all there already
    assert "fetched 0 file(s) (0 B), 3 already present" in capsys.readouterr().out


def test_an_offline_machine_gets_one_line_and_exit_code_2(mirror_root, tmp_path, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = ["data", "download", "--data-dir", str(tmp_path / "data"), "--mirror", f"http://127.0.0.1:{port}"]
    assert _exit_code(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: cannot reach http://127.0.0.1:{port}/DATA_LICENSE (")
    assert "offline" in line and "--mirror" in line
    assert not list((tmp_path / "data").rglob("*.json"))


def test_a_file_edited_in_place_is_reported_the_rest_fetched_and_exit_code_2(mirror_root, tmp_path, capsys):
    data_dir = tmp_path / "data"
    edited = data_dir / "dataset" / "boolq" / "test.json"
    edited.parent.mkdir(parents=True)
    edited.write_text("[]")
    with serve(mirror_root) as mirror:
        argv = ["data", "download", "--data-dir", str(data_dir), "--sets", "boolq", "--mirror", mirror.url]
        assert _exit_code(argv) == 2
        captured = capsys.readouterr()
        assert edited.read_text() == "[]"
        assert "fetched 3 file(s)" in captured.out  # the license, boolq's split, the paper's commonsense file
        assert "dataset/boolq/test.json" in captured.err and "Move them aside" in captured.err
        edited.unlink()
        assert _exit_code(argv) == 0
    assert edited.read_bytes() == FILES["dataset/boolq/test.json"]


def test_a_dry_run_lists_the_files_and_fetches_nothing(mirror_root, tmp_path, capsys):
    data_dir = tmp_path / "data"
    argv = ["data", "download", "--data_dir", str(data_dir), "--sets", "gsm8k", "--mirror", str(mirror_root)]
    assert _exit_code([*argv, "--dry-run"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [row[0] for row in rows] == [
        str(data_dir / path) for path in ("DATA_LICENSE", "dataset/gsm8k/test.json", "ft-training_set/math_10k.json")
    ]
    assert all(row[2] == "to fetch" and row[3].startswith(str(mirror_root)) for row in rows)
    assert not data_dir.exists()


def test_mistakes_are_one_message_and_exit_code_2(tmp_path, capsys):
    assert _exit_code(["data", "download", "--data-dir", str(tmp_path), "--sets", "boolqq"]) == 2
    assert "unknown set 'boolqq'" in capsys.readouterr().err
    assert _exit_code(["data", "download", "--data-dir", str(tmp_path), "--mirror", str(tmp_path / "none")]) == 2
    assert "no such folder" in capsys.readouterr().err
