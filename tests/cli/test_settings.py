"""Settings that would train wrong, fail late or overwrite a trained run: one message and exit 2, before training."""

from __future__ import annotations

import pytest
import torch

from denselora.errors import AdapterMismatchError
from tests.training.cli_runs import run, run_dirs, tiny_run_args


def _refused(args, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run(args)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    return error


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (("--trainer.accumulate_grad_batches", "-1"), "accumulate_grad_batches must be a whole number >= 1"),
        (("--trainer.accumulate_grad_batches", "0"), "accumulate_grad_batches must be a whole number >= 1"),
        (("--trainer.val_check_interval", "0"), "val_check_interval must be >= 1 training batches"),
        (("--trainer.val_check_interval", "1.5"), "val_check_interval as a fraction of an epoch must be in (0, 1]"),
        (("--trainer.log_every_n_steps", "0"), "log_every_n_steps must be a whole number >= 1"),
        (("--trainer.max_steps", "-5"), "max_steps must be >= 0, or -1"),
        (("--seed_everything", "-1"), "seed_everything must be a whole number from 0 to 4294967295"),
        (("--seed_everything", str(2**40)), "seed_everything must be a whole number from 0 to 4294967295"),
        (("--latest_checkpoint.every_n_train_steps", "-1"), "every_n_train_steps must be >= 0"),
        (("--model.init_args.max_new_tokens", "0"), "max_new_tokens must be at least 1"),
        (("--model.init_args.max_new_tokens", "-1"), "max_new_tokens must be at least 1"),
        (("--data.init_args.eval_datasets", "[synth_boolq, synth_boolq]"), "names synth_boolq more than once"),
    ],
)
def test_out_of_range_settings_are_refused_before_training(tmp_path, capsys, setting, message):
    error = _refused(tiny_run_args(tmp_path, *setting), capsys)
    assert message in error, error
    assert not list((tmp_path / "runs").glob("*/version_*/checkpoints"))


def test_fit_does_not_overwrite_a_trained_run_named_by_its_version(tmp_path, capsys):
    version = ("--trainer.logger.init_args.version", "0")
    run(tiny_run_args(tmp_path, *version))
    (run_dir,) = run_dirs(tmp_path)
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    error = _refused(tiny_run_args(tmp_path, *version), capsys)
    assert f"{run_dir} holds a trained run (checkpoints/" in error
    assert "leave out --trainer.logger.init_args.version" in error
    assert {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()} == before
    # Resuming that run from its own checkpoint may write there.
    last = run_dir / "checkpoints" / "last.ckpt"
    run(tiny_run_args(tmp_path, *version, "--ckpt_path", str(last), "--trainer.max_steps", "8"))
    assert torch.load(last, weights_only=True, map_location="cpu")["global_step"] == 8


def test_an_adapter_with_non_finite_values_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    from denselora import DenseLoRAConfig, apply_denselora, load_adapter, save_adapter
    from tests.conftest import build_tiny_llama

    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4, target_modules=["q_proj"]))
    save_adapter(model, tmp_path)
    tensors = load_file(tmp_path / "adapter_model.safetensors")
    name = next(iter(tensors))
    tensors[name][0, 0] = float("nan")
    save_file(tensors, tmp_path / "adapter_model.safetensors", {"format": "pt"})
    with pytest.raises(AdapterMismatchError, match=r"1 tensor\(s\) hold NaN or infinite values"):
        load_adapter(build_tiny_llama(), tmp_path)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (("--trainer.logger", "false"), "--trainer.logger false leaves the run without a run directory"),
        (("--trainer.logger.init_args.name", "../../elsewhere"), "would put the run outside save_dir"),
        (("--trainer.logger.init_args.name", "/tmp/elsewhere"), "would put the run outside save_dir"),
        (("--data.init_args.data_dir", ""), "data_dir is empty"),
    ],
)
def test_nothing_is_written_outside_the_run_or_the_data_folder(tmp_path, capsys, monkeypatch, setting, message):
    monkeypatch.chdir(tmp_path)
    error = _refused(tiny_run_args(tmp_path, *setting), capsys)
    assert message in error, error
    assert not list(tmp_path.glob("*.yaml")) and not list(tmp_path.glob("*.json"))
    assert not (tmp_path.parent / "elsewhere").exists() and not (tmp_path / "ft-training_set").exists()


def test_ckpt_path_last_resumes_the_newest_run_or_says_there_is_none(tmp_path, capsys):
    error = _refused(tiny_run_args(tmp_path, "--ckpt_path", "last"), capsys)
    assert "--ckpt_path last: no run under" in error and "has a checkpoints/last.ckpt" in error
    run(tiny_run_args(tmp_path))
    run(tiny_run_args(tmp_path, "--ckpt_path", "last", "--trainer.max_steps", "8"))
    first, resumed = run_dirs(tmp_path)
    assert f"--ckpt_path last: {first / 'checkpoints' / 'last.ckpt'}" in capsys.readouterr().err
    assert torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 8


def test_two_fits_do_not_share_a_checkpoint_folder(tmp_path, capsys):
    shared = ("--checkpoint.dirpath", str(tmp_path / "shared"))
    run(tiny_run_args(tmp_path, *shared))
    before = {path.name: path.read_bytes() for path in (tmp_path / "shared").iterdir()}
    error = _refused(tiny_run_args(tmp_path, *shared), capsys)
    assert f"--checkpoint.dirpath {tmp_path / 'shared'} holds another run's checkpoints" in error
    assert {path.name: path.read_bytes() for path in (tmp_path / "shared").iterdir()} == before


def test_training_records_that_all_copy_validation_records_are_refused(tmp_path, capsys):
    import json
    import random

    from denselora.quickstart.synthetic import make_boolq_example

    record = make_boolq_example(random.Random(0))
    data = tmp_path / "data"
    (data / "ft-training_set").mkdir(parents=True)
    (data / "ft-training_set" / "copies.json").write_text(json.dumps([record] * 200))
    error = _refused(tiny_run_args(tmp_path, "--data.init_args.train_file", "ft-training_set/copies.json"), capsys)
    assert "no training record is left once the 16 validation records and their 184 copies are held out" in error


def test_inputs_that_are_not_what_they_claim_are_named(tmp_path, capsys):
    import json

    # A file given as a model folder; a file that starts like GGUF and then is garbage.
    error = _refused(tiny_run_args(tmp_path, "--model.init_args.model_config", "null",
                                   "--model.init_args.pretrained", "/etc/hostname"), capsys)  # fmt: skip
    assert "is a file, neither a model directory nor a .gguf file" in error
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 7)
    error = _refused(tiny_run_args(tmp_path, "--model.init_args.model_config", "null",
                                   "--model.init_args.pretrained", str(fake)), capsys)  # fmt: skip
    assert f"{fake} is not a GGUF model that transformers can read" in error
    # An empty list as the training file; a test-set name longer than a file name may be.
    data = tmp_path / "data" / "ft-training_set"
    data.mkdir(parents=True, exist_ok=True)
    (data / "empty.json").write_text(json.dumps([]))
    error = _refused(tiny_run_args(tmp_path, "--data.init_args.train_file", "ft-training_set/empty.json"), capsys)
    assert "empty.json holds no records (an empty list)" in error
    error = _refused(tiny_run_args(tmp_path, "--data.init_args.eval_datasets", f"[{'x' * 300}]"), capsys)
    assert "a name of 300 bytes is longer than a file name may be" in error


def test_folders_that_cannot_be_written_are_named_before_training(tmp_path, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    error = _refused(tiny_run_args(tmp_path, "--checkpoint.dirpath", str(blocked / "checkpoints")), capsys)
    assert f"--checkpoint.dirpath {blocked / 'checkpoints'} cannot be written" in error
    error = _refused(tiny_run_args(tmp_path, "--data.init_args.data_dir", str(blocked / "data")), capsys)
    assert f"cannot write the quickstart's data to {blocked / 'data'}" in error
    error = _refused(tiny_run_args(tmp_path, "--data.init_args.data_dir", str(blocked)), capsys)
    assert f"cannot write the quickstart's data to {blocked}: Not a directory" in error
    assert blocked.read_text() == "" and not list(tmp_path.glob("runs/*/version_*/checkpoints"))


def test_a_test_set_that_is_not_a_test_set_is_refused_before_training(tmp_path, capsys):
    import os

    run(tiny_run_args(tmp_path, "--trainer.max_steps", "1"))  # writes the quickstart's data
    link = tmp_path / "data" / "dataset" / "synth_boolq" / "test.json"
    link.unlink()
    os.symlink("/etc/passwd", link)
    error = _refused(tiny_run_args(tmp_path, "--test_after_fit", "true"), capsys)
    assert f"{link} (a link to /etc/passwd) is not JSON" in error
    assert len(run_dirs(tmp_path)) == 1  # the first run; the refused one left no run directory
    assert os.readlink(link) == "/etc/passwd"  # and the quickstart did not write its data through the link


def test_a_diverged_run_without_a_checkpoint_says_there_is_nothing_to_resume(tmp_path, capsys):
    error = _refused(tiny_run_args(tmp_path, "--model.init_args.learning_rate", "1e30",
                                   "--trainer.gradient_clip_val", "null"), capsys)  # fmt: skip
    assert "training stopped before anything trained on it or after it was written" in error, error
    assert "No checkpoint was written yet, so there is nothing to resume" in error
