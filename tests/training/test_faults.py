"""Faults lose nothing: a killed run resumes to the same adapter, saves are atomic, a diverged loss stops cleanly."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from denselora.training import FineTuner
from denselora.training.atomic_checkpoint_io import AtomicCheckpointIO
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


def _start_paced_run(tmp_path, *extra):
    """A quickstart run in a subprocess, slowed down, that writes the optimizer step it reached to a file."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    step_file = tmp_path / "step"
    reporter = {"class_path": "tests.training.pacing.WriteStepAfterEachBatch", "init_args": {"path": str(step_file)}}
    args = tiny_run_args(
        tmp_path,
        *LONG_RUN,
        *extra,
        "--trainer.callbacks+", "tests.training.pacing.SleepAfterEachStep",
        "--trainer.callbacks+", json.dumps(reporter),
    )  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "denselora", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, step_file


def _wait_for_step(process, step_file, step):
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if step_file.exists() and step_file.read_text() and int(step_file.read_text()) >= step:
            return
        time.sleep(0.05)
    raise AssertionError(f"the run did not reach step {step}: {process.stderr.read()[-2000:]}")


@pytest.mark.slow
def test_sigterm_saves_the_current_step_exits_nonzero_and_resumes_exactly(tmp_path):
    # No periodic saves: whatever last.ckpt holds was written because of the signal. Two micro-batches per
    # optimizer step, so the signal usually lands inside an accumulation window, which must be finished first.
    no_periodic = ("--latest_checkpoint.every_n_train_steps", "0", "--trainer.accumulate_grad_batches", "2")
    process, step_file = _start_paced_run(tmp_path / "stopped", *no_periodic)
    _wait_for_step(process, step_file, 3)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, err[-2000:]
    last = run_dirs(tmp_path / "stopped")[-1] / "checkpoints" / "last.ckpt"
    stopped_at = load_checkpoint(last)["global_step"]
    assert 3 <= stopped_at < 15, stopped_at
    assert f"stopped by SIGTERM after optimizer step {stopped_at}" in err and f"--ckpt_path {last}" in err
    assert not (last.parent.parent / "adapter").exists()  # an interrupted run exports nothing

    run(tiny_run_args(tmp_path / "stopped", *LONG_RUN, *no_periodic, "--ckpt_path", str(last)))
    resumed = load_checkpoint(run_dirs(tmp_path / "stopped")[-1] / "checkpoints" / "last.ckpt")
    run(tiny_run_args(tmp_path / "straight", *LONG_RUN, *no_periodic))
    straight = load_checkpoint(run_dirs(tmp_path / "straight")[-1] / "checkpoints" / "last.ckpt")
    assert resumed["global_step"] == straight["global_step"] == 15  # 3 epochs of 5 optimizer steps
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name


@pytest.mark.slow
def test_ctrl_c_also_saves_the_current_step_before_stopping(tmp_path):
    process, step_file = _start_paced_run(tmp_path, "--latest_checkpoint.every_n_train_steps", "0")
    _wait_for_step(process, step_file, 2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, err[-2000:]
    stopped_at = load_checkpoint(run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt")["global_step"]
    assert stopped_at >= 2 and f"stopped by SIGINT after optimizer step {stopped_at}" in err


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


def test_stale_partial_checkpoints_are_removed_and_live_ones_kept(tmp_path):
    from denselora.training.atomic_checkpoint_io import remove_stale_partials

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a process id that no longer runs
    stale = tmp_path / f".last.ckpt.partial-{dead.pid}"
    live = tmp_path / f".last.ckpt.partial-{os.getpid()}"
    other = tmp_path / "last.ckpt"
    # Files of the user's that look alike but are not a checkpoint being written: never touched.
    users = [tmp_path / f".mynotes.partial-{dead.pid}", tmp_path / f".last.ckpt.partial-{dead.pid}x"]
    for path in (stale, live, other, *users):
        path.write_bytes(b"x")
    assert remove_stale_partials(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists() and all(path.exists() for path in users)


def test_resuming_clears_the_partial_checkpoint_a_killed_save_left(tmp_path):
    run(tiny_run_args(tmp_path, *LONG_RUN, "--trainer.max_steps", "4"))
    checkpoints = run_dirs(tmp_path)[-1] / "checkpoints"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = checkpoints / f".last.ckpt.partial-{dead.pid}"
    stale.write_bytes(b"half a checkpoint")
    run(tiny_run_args(tmp_path, *LONG_RUN, "--trainer.max_steps", "6", "--ckpt_path", str(checkpoints / "last.ckpt")))
    assert not stale.exists()


def test_a_full_disk_during_a_save_is_a_user_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import errno

    from denselora.errors import RunDirectoryError

    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)

    def disk_full(obj, handle, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    message = f"cannot write the checkpoint {path}: No space left on device; {path} from before is intact"
    with pytest.raises(RunDirectoryError, match=message):
        io.save_checkpoint({"global_step": 2}, path)
    monkeypatch.undo()
    assert io.load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


# The loss is read back at the steps whose logs Lightning writes, the step before each, and before each checkpoint.
# Logging every 5 steps (the quickstart's) finds the NaN of step 4 there; every 10 steps, at last.ckpt's save at
# step 6, which it stops before the file is written.
@pytest.mark.parametrize("log_every", ["5", "10"])
def test_a_diverged_loss_stops_the_run_with_the_step_and_writes_nothing_after_it(
    tmp_path, monkeypatch, capsys, log_every
):
    from denselora.cli import main

    original = FineTuner.compute_loss

    def nan_from_step_4(self, batch):
        loss = original(self, batch)
        return loss * float("nan") if self.training and self.global_step >= 4 else loss

    monkeypatch.setattr(FineTuner, "compute_loss", nan_from_step_4)
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path, *LONG_RUN, "--trainer.log_every_n_steps", log_every))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: the training loss is nan at optimizer step 4 (epoch 0, batch 4)" in err
    run_dir = run_dirs(tmp_path)[-1]
    last = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 4  # saved before the bad step, and nothing after it
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["last.ckpt"]
    assert not (run_dir / "adapter").exists()


def test_answers_cut_off_by_cutoff_len_are_dropped_not_taken_for_divergence(tmp_path, capsys):
    # Half the quickstart prompts fill 66 tokens; with micro-batch 1 and the loss on the answer only, one of
    # them alone in a batch made the loss 0 / 0 = NaN and the run stopped as "diverged".
    args = tiny_run_args(
        tmp_path,
        "--data.init_args.train_on_inputs", "false",
        "--data.init_args.cutoff_len", "66",
        "--data.init_args.micro_batch_size", "1",
        "--trainer.max_steps", "8",
    )  # fmt: skip
    with pytest.warns(UserWarning, match=r"training data: \d+ of \d+ records have no answer token left"):
        run(args)
    assert "diverged" not in capsys.readouterr().err
    assert (run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.slow
def test_ctrl_c_twice_during_fit_or_once_during_test_exits_130_with_a_message(tmp_path):
    # Twice during fit: the first asks for a stop after the step, the second stops at once.
    process, step_file = _start_paced_run(tmp_path / "fit", "--latest_checkpoint.every_n_train_steps", "0")
    _wait_for_step(process, step_file, 2)
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, err[-2000:]
    assert "stopped by SIGINT" in err and "Detected KeyboardInterrupt" not in err

    # Once during test.
    marker = tmp_path / "test" / "testing"
    pacer = {"class_path": "tests.training.pacing.SleepAfterEachTestBatch", "init_args": {"path": str(marker)}}
    (tmp_path / "test").mkdir()
    args = tiny_run_args(tmp_path / "test", "--trainer.callbacks+", json.dumps(pacer), subcommand="test")
    process = subprocess.Popen(
        [sys.executable, "-m", "denselora", *args], env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGINT, err[-2000:]
    assert "error: stopped by SIGINT before the command finished" in err
