"""The suite's own guard (``tests/conftest.py``): it must see a replaced device and a stray file."""

import subprocess

from tests.conftest import DEVICES, machine_damage, stray_files


def test_a_device_replaced_by_a_regular_file_is_reported(tmp_path):
    fake = tmp_path / "null"
    fake.write_bytes(b"")  # what safetensors' rename over /dev/null left behind
    problems = machine_damage(None, devices={str(fake): 3})
    assert len(problems) == 1 and str(fake) in problems[0] and "mknod -m 666" in problems[0]


def test_the_real_devices_are_character_devices():
    assert machine_damage(None, devices=DEVICES) == []


def test_new_untracked_files_are_reported_and_ignored_ones_are_not(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("runs/\n")
    (tmp_path / "existing.txt").write_text("")
    before = stray_files(tmp_path)
    assert before == {".gitignore", "existing.txt"}
    assert machine_damage(before, devices={}, repo=tmp_path) == []
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "kept.json").write_text("{}")
    assert machine_damage(before, devices={}, repo=tmp_path) == []
    (tmp_path / "left_behind.jsonl").write_text("")
    problems = machine_damage(before, devices={}, repo=tmp_path)
    assert len(problems) == 1 and "left_behind.jsonl" in problems[0]
