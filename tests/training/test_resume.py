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
    from denselora.data.quickstart import QuickstartDataModule

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
