import logging

import pytest
import torch
from safetensors.torch import load_file

from tests.training.cli_runs import load_checkpoint, run, run_dirs, tiny_run_args

NO_VALIDATION = (
    "--trainer.limit_val_batches", "0",
    "--checkpoint.monitor", "null",
    "--checkpoint.save_top_k", "0",
)  # fmt: skip


def _final_state(tmp_path, *extra):
    run(tiny_run_args(tmp_path, *NO_VALIDATION, *extra))
    run_dir = run_dirs(tmp_path)[-1]
    return run_dir, load_checkpoint(run_dir / "checkpoints" / "last.ckpt")


def test_resuming_mid_epoch_ends_with_the_adapter_of_an_uninterrupted_run(tmp_path):
    # 80 training records in micro-batches of 8: 10 steps an epoch. Save every 3 steps during a 14-step run,
    # resume from step 3 (mid-epoch) and run to 14, across an epoch boundary; compare with the run itself.
    # Dropout is on, so the RNG must resume too.
    straight_dir, straight = _final_state(
        tmp_path / "straight",
        "--trainer.max_steps", "14",
        "--checkpoint.every_n_train_steps", "3",
        "--checkpoint.save_top_k", "-1",
        "--checkpoint.filename", "{step}",
    )  # fmt: skip
    step3 = straight_dir / "checkpoints" / "3.ckpt"
    assert load_checkpoint(step3)["global_step"] == 3
    _, resumed = _final_state(tmp_path / "resumed", "--trainer.max_steps", "14", "--ckpt_path", str(step3))
    assert resumed["global_step"] == straight["global_step"] == 14
    assert set(resumed["state_dict"]) == set(straight["state_dict"])
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name
    assert not torch.equal(load_checkpoint(step3)["state_dict"][name], tensor)  # training moved on after step 3
    exported = load_file(run_dirs(tmp_path / "resumed")[-1] / "adapter" / "adapter_model.safetensors")
    assert all(torch.equal(exported[k], straight["state_dict"][f"model.{k}"]) for k in exported)


def test_epochs_see_different_orders(tmp_path):
    from denselora.quickstart.datamodule import QuickstartDataModule

    datamodule = QuickstartDataModule(
        data_dir=str(tmp_path), train_size=48, test_size=2, val_size=8, micro_batch_size=8
    )
    loader = datamodule.train_dataloader()
    first = [b["input_ids"][0].tolist() for b in loader]
    loader.sampler.set_epoch(1)
    second = [b["input_ids"][0].tolist() for b in loader]
    assert sorted(map(tuple, first)) != [] and first != second
    loader.sampler.set_epoch(0)
    assert [b["input_ids"][0].tolist() for b in loader] == first


def _six_steps(tmp_path):
    run_dir, state = _final_state(tmp_path / "first", "--trainer.max_steps", "6")
    return run_dir / "checkpoints" / "last.ckpt", state


def test_resuming_with_other_data_settings_is_refused_naming_each_change(tmp_path, capsys, caplog):
    from denselora.cli import main

    caplog.set_level(logging.INFO)
    last, _ = _six_steps(tmp_path)
    changes = ("--data.init_args.micro_batch_size", "4", "--data.init_args.cutoff_len", "200")
    resume = ("--trainer.max_steps", "8", "--ckpt_path", str(last))
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path / "first", *NO_VALIDATION, *changes, *resume))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: resuming from optimizer step 6 with settings that change what the run trains on" in err
    assert "global micro-batch: 8 -> 4" in err and "data.cutoff_len: 128 -> 200" in err
    assert "--resume.allow_changed_data true" in err

    allow = ("--resume.allow_changed_data", "true")
    _, resumed = _final_state(tmp_path / "first", *changes, *allow, *resume)
    assert resumed["global_step"] == 8
    assert "resuming from optimizer step 6 with changed settings: " in caplog.text


def test_a_new_learning_rate_at_resume_is_applied_and_announced(tmp_path, caplog):
    from denselora.training.schedule import warmup_then_linear_decay

    caplog.set_level(logging.INFO)
    last, saved = _six_steps(tmp_path)
    assert saved["lr_schedulers"][0]["base_lrs"] != [5e-4]
    new_rate = ("--model.init_args.learning_rate", "5e-4")
    _, resumed = _final_state(tmp_path / "first", "--trainer.max_steps", "8", *new_rate, "--ckpt_path", str(last))
    assert resumed["lr_schedulers"][0]["base_lrs"] == [5e-4]
    # The schedule goes on from step 8 of its (new) 8 steps, at the new peak: the decay ends at zero.
    factor = warmup_then_linear_decay(8, 2, 8)
    assert resumed["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(5e-4 * factor)
    assert "resuming from optimizer step 6 with changed settings: " in caplog.text
    assert "model.learning_rate: 0.003 -> 0.0005" in caplog.text and "trainer.max_steps: 6 -> 8" in caplog.text


def test_a_training_file_edited_in_place_is_refused_on_resume(tmp_path, capsys):
    import json

    run(tiny_run_args(tmp_path, *NO_VALIDATION, "--trainer.max_steps", "4"))
    last = run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt"
    path = tmp_path / "data" / "ft-training_set" / "synthetic_train.json"
    records = json.loads(path.read_text())
    for record in records:  # the same path, the same number of records, other answers
        record["output"] = record["output"].replace("true", "TRUE").replace("answer", "ANSWER")
    path.write_text(json.dumps(records))
    with pytest.raises(SystemExit) as exit_info:
        run(tiny_run_args(tmp_path, *NO_VALIDATION, "--trainer.max_steps", "8", "--ckpt_path", str(last)))
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "settings that change what the run trains on: training and validation tokens (sha256):" in error
