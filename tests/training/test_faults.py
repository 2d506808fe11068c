"""Faults lose nothing: a killed run resumes to the same adapter, saves are atomic, a diverged loss stops cleanly."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from denselora.training import FineTuner
from denselora.training.checkpoint_io import AtomicCheckpointIO
from tests.training.cli_runs import REPO, load_checkpoint, run, run_dirs, tiny_run_args

LONG_RUN = (
    "--trainer.limit_val_batches", "0",
    "--checkpoint.monitor", "null",
    "--checkpoint.save_top_k", "0",
    "--trainer.max_steps", "24",
    "--trainer.max_epochs", "3",
    "--latest_checkpoint.every_n_train_steps", "2",
)  # fmt: skip


def _last_step(path):
    try:
        return load_checkpoint(path)["global_step"]
    except Exception:  # not written yet
        return -1


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_adapter(tmp_path):
    # 10 steps an epoch; kill the process with SIGKILL once it has saved a step of the first epoch,
    # resume from last.ckpt and compare with a run that was never interrupted (dropout on).
    args = tiny_run_args(
        tmp_path / "killed", *LONG_RUN, "--trainer.callbacks+", "tests.training.pacing.SleepAfterEachStep"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "denselora", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    last = tmp_path / "killed" / "runs" / "quickstart" / "version_0" / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while _last_step(last) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _last_step(last)
    assert process.returncode == -signal.SIGKILL and 4 <= killed_at < 10, (killed_at, process.stderr.read()[-2000:])

    run(tiny_run_args(tmp_path / "killed", *LONG_RUN, "--ckpt_path", str(last)))
    resumed = load_checkpoint(run_dirs(tmp_path / "killed")[-1] / "checkpoints" / "last.ckpt")
    run(tiny_run_args(tmp_path / "straight", *LONG_RUN))
    straight = load_checkpoint(run_dirs(tmp_path / "straight")[-1] / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == straight["global_step"] == 24
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name


def test_a_save_interrupted_mid_write_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1, "state_dict": {"w": torch.ones(3)}}, path)

    def dies_half_way(obj, handle, *args, **kwargs):
        handle.write(b"\x80\x02 half a checkpoint")
        raise KeyboardInterrupt  # the process is stopped in the middle of writing

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"global_step": 2, "state_dict": {"w": torch.zeros(3)}}, path)
    monkeypatch.undo()
    assert io.load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no partial file left behind


def test_a_diverged_loss_stops_the_run_with_the_step_and_keeps_the_checkpoints(tmp_path, monkeypatch, capsys):
    from denselora.cli import main

    original = FineTuner.compute_loss

    def nan_from_step_4(self, batch):
        loss = original(self, batch)
        return loss * float("nan") if self.training and self.global_step >= 4 else loss

    monkeypatch.setattr(FineTuner, "compute_loss", nan_from_step_4)
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path, *LONG_RUN))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: the training loss is nan at optimizer step 4 (epoch 0, batch 4)" in err
    last = load_checkpoint(run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 4  # saved before the bad step, and nothing after it
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())
