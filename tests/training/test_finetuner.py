import json
from importlib import metadata

import pytest
import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from denselora.methods import DenseLoRA
from denselora.training import FineTuner
from tests.training.cli_runs import TINY_MODEL, load_checkpoint, run, run_dirs, tiny_run_args


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fit")
    run(tiny_run_args(tmp_path))
    (run_dir,) = run_dirs(tmp_path)
    return run_dir


def test_checkpoints_hold_the_adapter_and_optimizer_only(fitted):
    exported = load_file(fitted / "adapter" / "adapter_model.safetensors")
    checkpoints = sorted((fitted / "checkpoints").glob("*.ckpt"))
    assert {p.name for p in checkpoints} >= {"last.ckpt"} and len(checkpoints) == 2  # last + best
    for path in checkpoints:
        checkpoint = load_checkpoint(path)
        assert set(checkpoint["state_dict"]) == {f"model.{k}" for k in exported}
        (optimizer,) = checkpoint["optimizer_states"]
        assert len(optimizer["state"]) == len(exported)  # every adapter tensor trains, nothing else
        assert checkpoint["adapter"]["method"] == "denselora"
        assert "rng" in checkpoint and checkpoint["lr_schedulers"]


def test_the_exported_adapter_is_the_best_checkpoint_not_the_last(tmp_path):
    # Keep the checkpoint with the *highest* validation loss: a "best" that is surely not the last step.
    run(tiny_run_args(tmp_path, "--checkpoint.mode", "max"))
    (run_dir,) = run_dirs(tmp_path)
    (best,) = [p for p in (run_dir / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert best.name.startswith("step3-")
    state = load_checkpoint(best)["state_dict"]
    last = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    exported = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    assert all(torch.equal(state[f"model.{k}"], v) for k, v in exported.items())
    assert any(not torch.equal(last[k], state[k]) for k in state)


def test_the_run_records_its_config_versions_and_metrics(fitted):
    config = (fitted / "config.yaml").read_text()
    assert "denselora.methods.DenseLoRA" in config and "model_config" in config
    environment = json.loads((fitted / "environment.json").read_text())
    assert environment["seed"] == 0  # quickstart.yaml's seed_everything
    assert environment["packages"]["torch"] == metadata.version("torch")
    assert environment["packages"]["denselora"] == metadata.version("denselora")
    events = EventAccumulator(str(fitted)).Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss", "train/grad_norm", "train/tokens_per_sec", "val/loss", "lr-AdamW"} <= scalars
    lrs = [event.value for event in events.Scalars("lr-AdamW")]
    assert len(lrs) == 6 and lrs[0] < lrs[1] > lrs[-1]  # linear warmup over 2 steps, then decay
    assert all(v > 0 for v in (e.value for e in events.Scalars("train/tokens_per_sec")))


def test_the_base_does_not_move(tmp_path, input_ids):
    module = FineTuner(DenseLoRA(r=4), model_config=TINY_MODEL)
    torch.manual_seed(0)
    module.configure_model()
    base = {n: p.detach().clone() for n, p in module.model.named_parameters() if not p.requires_grad}
    optimizer = torch.optim.AdamW(module.trainable_parameters(), lr=1e-2)
    for _ in range(3):
        ids = input_ids % 100
        loss = module.compute_loss({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids})
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert all(torch.equal(p, base[n]) for n, p in module.model.named_parameters() if n in base)
    assert {n for n, p in module.model.named_parameters() if p.requires_grad}.isdisjoint(base)


def test_gradient_checkpointing_yields_the_same_adapter_gradients(input_ids):
    grads = []
    for checkpointing in (False, True):
        module = FineTuner(DenseLoRA(r=4, dropout=0.0), model_config=TINY_MODEL, gradient_checkpointing=checkpointing)
        torch.manual_seed(0)
        module.configure_model()
        module.model.train()
        ids = input_ids % 100
        module.compute_loss({"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}).backward()
        # W_d starts at zero, so after one step's worth of gradient every adapter tensor has one.
        grads.append({n: p.grad.clone() for n, p in module.model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and any(g.abs().sum() > 0 for g in grads[1].values())
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-5, atol=1e-7)
    assert module.model.is_gradient_checkpointing


def test_constructor_refuses_bad_settings():
    from denselora.errors import ConfigError

    with pytest.raises(ConfigError, match=r"exactly one of model\.base.*got model\.pretrained, model\.model_config"):
        FineTuner(DenseLoRA(), pretrained="x", model_config=TINY_MODEL)
    with pytest.raises(ConfigError, match="model_type"):
        FineTuner(DenseLoRA(), model_config={"hidden_size": 8})
    with pytest.raises(ConfigError, match=r"model\.dtype"):
        FineTuner(DenseLoRA(), model_config=TINY_MODEL, dtype="int4")


def test_validation_can_also_generate_and_score(tmp_path):
    run(tiny_run_args(tmp_path, "--data.init_args.val_generation_size", "8"))
    (run_dir,) = run_dirs(tmp_path)
    events = EventAccumulator(str(run_dir)).Reload()
    accuracy = events.Scalars("val/accuracy")
    assert [e.step for e in accuracy] == [e.step for e in events.Scalars("val/loss")]
    assert all(0.0 <= e.value <= 1.0 for e in accuracy)


def test_same_seed_same_adapter(tmp_path):
    adapters = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        run(tiny_run_args(tmp_path / name, "--seed_everything", seed))
        (run_dir,) = run_dirs(tmp_path / name)
        adapters.append(load_file(run_dir / "adapter" / "adapter_model.safetensors"))
    assert all(torch.equal(adapters[0][k], adapters[1][k]) for k in adapters[0])
    assert not all(torch.equal(adapters[0][k], adapters[2][k]) for k in adapters[0])


def test_a_lora_checkpoint_is_refused_for_another_scaling_but_not_another_dropout():
    from denselora.methods import LoRA
    from denselora.training.checkpoint_contents import describe_metadata_difference
    from tests.conftest import build_tiny_llama

    trained = LoRA(r=4, alpha=8.0, dropout=0.05, target_modules=["q_proj", "v_proj"])
    model = trained.apply(build_tiny_llama())
    saved = trained.metadata(model)

    def difference(adapter, resuming=False):
        return describe_metadata_difference(saved, adapter.metadata(model), adapter.training_fields, resuming)

    assert difference(LoRA(r=4, alpha=8.0, dropout=0.0, target_modules=["q_proj", "v_proj"])) is None
    assert "dropout: checkpoint 0.05, model 0.0" in difference(
        LoRA(r=4, alpha=8.0, dropout=0.0, target_modules=["q_proj", "v_proj"]), resuming=True
    )
    # alpha / r scales the update without changing a tensor's shape: only the record tells it apart.
    assert "alpha: checkpoint 8.0, model 16.0" in difference(
        LoRA(r=4, alpha=16.0, dropout=0.05, target_modules=["q_proj", "v_proj"])
    )
    older = {key: value for key, value in saved.items() if key != "config"}
    assert describe_metadata_difference(older, saved, LoRA.training_fields, resuming=False) is None


def test_a_checkpoint_from_before_missing_targets_resumes():
    from denselora import DenseLoRAConfig, apply_denselora
    from denselora.methods import DenseLoRA
    from denselora.training.checkpoint_contents import describe_metadata_difference
    from tests.conftest import build_tiny_llama

    adapter = DenseLoRA(r=4)
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4))
    now = adapter.metadata(model)
    # Checkpoints written before the field existed record no missing_targets; it selects the same layers.
    older = {**now, "config": {k: v for k, v in now["config"].items() if k != "missing_targets"}}
    assert describe_metadata_difference(older, now, adapter.training_fields, resuming=True) is None
    elsewhere = {**older, "layers": {}}
    assert "missing_targets" in describe_metadata_difference(elsewhere, now, adapter.training_fields, resuming=False)


def test_hparams_hold_the_arguments_in_plain_values():
    from denselora.methods import LoRA
    from denselora.training.checkpoint_contents import is_plain

    module = FineTuner(LoRA(r=4, alpha=8.0, target_modules=["q_proj"]), model_config=TINY_MODEL, num_beams=2)
    hparams = dict(module.hparams)
    assert hparams["adapter"] == {
        "class_path": "denselora.methods.peft.LoRA",
        "init_args": {"r": 4, "alpha": 8.0, "dropout": 0.05, "target_modules": ["q_proj"], "missing_targets": "error"},
    }
    assert (hparams["model_config"], hparams["num_beams"], hparams["base"]) == (TINY_MODEL, 2, None)
    assert is_plain(hparams) and dict(module.hparams_initial) == hparams


def test_a_checkpoint_records_the_arguments_but_the_command_line_decides(fitted, tmp_path):
    checkpoint = load_checkpoint(fitted / "checkpoints" / "last.ckpt")
    hparams = checkpoint["hyper_parameters"]
    assert hparams["_class_path"] == "denselora.training.FineTuner" and hparams["num_beams"] == 1
    assert hparams["adapter"]["class_path"] == "denselora.methods.DenseLoRA"
    # A checkpoint written before the arguments were recorded has none.
    older = tmp_path / "older.ckpt"
    torch.save({k: v for k, v in checkpoint.items() if k not in ("hyper_parameters", "hparams_name")}, older)
    for ckpt_path in (fitted / "checkpoints" / "last.ckpt", older):
        args = ["--ckpt_path", str(ckpt_path), "--model.init_args.num_beams", "2", "--data.init_args.test_size", "2"]
        run(tiny_run_args(tmp_path, *args, subcommand="test"))
    results = [json.loads((run_dir / "evaluation" / "results.json").read_text()) for run_dir in run_dirs(tmp_path)]
    assert [result["num_beams"] for result in results] == [2, 2]
