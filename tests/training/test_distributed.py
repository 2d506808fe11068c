"""DDP and FSDP on CPU (gloo): two workers with micro-batch b end where one process with micro-batch 2b ends."""

import json
import os
import random
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tests.training.cli_runs import REPO, tiny_run_args

# Loss is averaged per micro-batch over its tokens and DDP averages the workers' gradients, so the two set-ups
# follow the same mathematics exactly when every example has the same number of tokens (digits are one token
# each in the built-in tokenizer). What remains is floating-point summation order.
TOLERANCE = dict(rtol=1e-4, atol=1e-6)


def _equal_length_records(path, count=64, seed=0):
    rng = random.Random(seed)
    digits = lambda n: "".join(str(rng.randrange(10)) for _ in range(n))  # noqa: E731
    records = [{"instruction": f"Copy the digits {digits(12)}", "input": "", "output": digits(4)} for _ in range(count)]
    path.write_text(json.dumps(records))


def _fit(tmp_path, name, *extra, run_dir=False):
    args = tiny_run_args(
        tmp_path / name,
        "--data.init_args.train_file", str(tmp_path / "train.json"),
        "--data.init_args.val_size", "0",
        "--trainer.limit_val_batches", "0",
        "--checkpoint.monitor", "null",
        "--checkpoint.save_top_k", "0",
        "--model.init_args.adapter.init_args.dropout", "0.0",
        "--trainer.max_steps", "4",
        "--trainer.accelerator", "cpu",
        *extra,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "denselora", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (directory,) = sorted((tmp_path / name / "runs" / "quickstart").glob("version_*"))
    adapter = load_file(directory / "adapter" / "adapter_model.safetensors")
    return (adapter, directory) if run_dir else adapter


@pytest.mark.slow
def test_two_ddp_workers_match_one_process_with_twice_the_batch(tmp_path):
    _equal_length_records(tmp_path / "train.json")
    single = _fit(tmp_path, "single", "--data.init_args.micro_batch_size", "8", "--trainer.devices", "1")
    ddp = _fit(
        tmp_path,
        "ddp",
        "--data.init_args.micro_batch_size", "4",
        "--trainer.devices", "2",
        "--trainer.strategy", "ddp",
    )  # fmt: skip
    assert set(single) == set(ddp)
    for name, tensor in single.items():
        torch.testing.assert_close(ddp[name], tensor, **TOLERANCE)
    start = _fit(tmp_path, "start", "--trainer.max_steps", "1", "--model.init_args.learning_rate", "1e-12")
    assert any(not torch.allclose(start[k], single[k]) for k in single)  # four steps did move the adapter


@pytest.mark.slow
def test_fsdp_matches_one_process_and_its_adapter_loads_on_one_device(tmp_path):
    from denselora import load_adapter
    from denselora.methods import DenseLoRA
    from denselora.training import FineTuner
    from tests.training.cli_runs import TINY_MODEL

    _equal_length_records(tmp_path / "train.json")
    single = _fit(tmp_path, "single", "--data.init_args.micro_batch_size", "8", "--trainer.devices", "1")
    fsdp, run_dir = _fit(
        tmp_path,
        "fsdp",
        "--data.init_args.micro_batch_size", "4",
        "--trainer.devices", "2",
        "--trainer.strategy", "denselora_fsdp",
        "--model.init_args.gradient_checkpointing", "true",  # recomputation inside the sharded layers
        run_dir=True,
    )  # fmt: skip
    assert set(single) == set(fsdp)
    for name, tensor in single.items():
        torch.testing.assert_close(fsdp[name], tensor, **TOLERANCE)

    # The checkpoint holds the adapter whole (gathered from the shards) and nothing of the base.
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert {k.removeprefix("model.") for k in checkpoint["state_dict"]} == set(fsdp)
    assert all(checkpoint["state_dict"][f"model.{k}"].shape == v.shape for k, v in fsdp.items())
    assert len(checkpoint["optimizer_states"][0]["state"]) == len(fsdp)

    # The exported adapter loads on one device (into the same seed-determined base) and answers as the
    # single-process run's adapter does.
    ids = torch.randint(0, 500, (2, 10), generator=torch.Generator().manual_seed(3))
    single_dir = sorted((tmp_path / "single" / "runs" / "quickstart").glob("version_*"))[0]
    outputs = []
    for directory in (run_dir, single_dir):
        module = FineTuner(DenseLoRA(r=16), model_config=TINY_MODEL)
        module.configure_model()
        model = load_adapter(module.model, directory / "adapter").eval()
        with torch.no_grad():
            outputs.append(model(ids).logits)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)
