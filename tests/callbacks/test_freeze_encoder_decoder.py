"""Freezing the shared encoder/decoder pairs: bit-identical while frozen, trained after unfreezing, resumable."""

import json
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from denselora import adapted_layers, get_shared
from denselora.callbacks import FreezeEncoderDecoder
from denselora.errors import ConfigError
from tests.callbacks.tiny_fit import tiny_fit
from tests.training.cli_runs import REPO, load_checkpoint, run, run_dirs, tiny_run_args


class Recorder(Callback):
    """Copies of the shared pairs and of every M when fitting starts and after each optimizer step."""

    def __init__(self):
        self.shared, self.ms, self.lrs = {}, {}, {}

    def on_fit_start(self, trainer, pl_module):
        self._record(0, trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, *args):
        self._record(trainer.global_step, trainer, pl_module)

    def _record(self, step, trainer, pl_module):
        model = pl_module.model
        self.shared[step] = {n: p.detach().clone() for n, p in get_shared(model).named_parameters()}
        self.ms[step] = {n: layer.M.detach().clone() for n, layer in adapted_layers(model).items()}
        self.lrs[step] = {g.get("name", "M"): g["lr"] for g in trainer.optimizers[0].param_groups}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _all_differ(a, b):
    return all(not torch.equal(a[k], b[k]) for k in a)


def test_frozen_for_the_whole_run_the_pairs_stay_bit_identical_while_every_M_trains(tmp_path):
    recorder = Recorder()
    module = tiny_fit(tmp_path, [FreezeEncoderDecoder(), recorder], max_steps=4)
    start = recorder.shared[0]
    assert all(_same(recorder.shared[step], start) for step in range(1, 5))
    assert all(_all_differ(recorder.ms[step], recorder.ms[step - 1]) for step in range(2, 5))
    # The zero-initialised decoders were redrawn before freezing, and M started from zero instead.
    assert all(t.abs().sum() > 0 for n, t in start.items() if n.endswith("decoder"))
    assert all(torch.count_nonzero(m) == 0 for m in recorder.ms[0].values())
    optimizer = module.trainer.optimizers[0]
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert held == {id(layer.M) for layer in adapted_layers(module.model).values()}
    assert not any(p.requires_grad for p in get_shared(module.model).parameters())
    record = json.loads((tmp_path / "root" / "parameters.json").read_text())
    assert record["trainable"] == 2 * 5 * 4 * 4  # only the M of 2 blocks x 5 targets, r=4


def test_a_frozen_zero_decoder_would_train_nothing(tmp_path):
    # Why the callback redraws the decoders: frozen at their zero initialisation, M never gets a gradient.
    recorder = Recorder()
    tiny_fit(tmp_path, [FreezeEncoderDecoder(reinitialize=False), recorder], max_steps=3)
    assert all(_same(recorder.ms[step], recorder.ms[0]) for step in range(1, 4))


def test_unfreezing_after_a_step_adds_a_scheduled_param_group(tmp_path):
    recorder = Recorder()
    module = tiny_fit(tmp_path, [FreezeEncoderDecoder(unfreeze_at_step=3, lr_factor=0.5), recorder], max_steps=6)
    assert all(_same(recorder.shared[step], recorder.shared[0]) for step in range(1, 4))
    assert all(not _same(recorder.shared[step], recorder.shared[step - 1]) for step in range(4, 7))
    optimizer = module.trainer.optimizers[0]
    assert [g.get("name") for g in optimizer.param_groups] == [None, "encoder_decoder"]
    assert {id(p) for p in optimizer.param_groups[1]["params"]} == {
        id(p) for p in get_shared(module.model).parameters()
    }
    assert all(p.requires_grad for p in get_shared(module.model).parameters())
    # The new group follows the same warmup-then-decay schedule, at half the rate.
    for step in range(4, 7):
        assert recorder.lrs[step]["encoder_decoder"] == pytest.approx(0.5 * recorder.lrs[step]["M"])
    assert recorder.lrs[4]["encoder_decoder"] > recorder.lrs[5]["encoder_decoder"] > 0  # decaying to 0 at 6


def test_unfreezing_when_an_epoch_starts(tmp_path):
    recorder = Recorder()
    callbacks = [FreezeEncoderDecoder(unfreeze_at_epoch=1), recorder]
    tiny_fit(tmp_path, callbacks, max_steps=5, train_size=48)  # 4 steps an epoch
    assert _same(recorder.shared[4], recorder.shared[0])
    assert not _same(recorder.shared[5], recorder.shared[4])


NO_VALIDATION = (
    "--trainer.limit_val_batches", "0",
    "--checkpoint.monitor", "null",
    "--checkpoint.save_top_k", "-1",
    "--checkpoint.every_n_train_steps", "1",
    "--checkpoint.filename", "{step}",
    "--model.init_args.adapter.init_args.r", "4",
    "--model.init_args.adapter.init_args.alpha", "8",
)  # fmt: skip
FREEZE_UNTIL_STEP_3 = json.dumps(
    {"class_path": "denselora.callbacks.FreezeEncoderDecoder", "init_args": {"unfreeze_at_step": 3}}
)


RESUME_ARGS = (*NO_VALIDATION, "--trainer.max_steps", "6", "--trainer.callbacks+", FREEZE_UNTIL_STEP_3)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The checkpoints of a 6-step run that unfreezes after step 3, one per step."""
    root = tmp_path_factory.mktemp("uninterrupted")
    run(tiny_run_args(root, *RESUME_ARGS))
    return run_dirs(root)[-1] / "checkpoints"


@pytest.mark.parametrize("resume_from", [2, 4], ids=["before-unfreezing", "after-unfreezing"])
def test_resuming_ends_where_an_uninterrupted_run_ends(uninterrupted, tmp_path, resume_from):
    straight = load_checkpoint(uninterrupted / "6.ckpt")
    run(tiny_run_args(tmp_path, *RESUME_ARGS, "--ckpt_path", str(uninterrupted / f"{resume_from}.ckpt")))
    resumed = load_checkpoint(run_dirs(tmp_path)[-1] / "checkpoints" / "6.ckpt")
    assert resumed["global_step"] == straight["global_step"] == 6
    for name, tensor in straight["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], tensor), name
    for saved in (straight, resumed):
        (optimizer,) = saved["optimizer_states"]
        assert [g.get("name") for g in optimizer["param_groups"]] == [None, "encoder_decoder"]
        assert len(saved["lr_schedulers"][0]["base_lrs"]) == 2
    (a,), (b,) = straight["optimizer_states"], resumed["optimizer_states"]
    assert [g["lr"] for g in a["param_groups"]] == [g["lr"] for g in b["param_groups"]]


def test_the_uninterrupted_run_froze_the_pairs_for_three_steps(uninterrupted):
    encoder = "model.denselora.q_proj.encoder"
    at = {step: load_checkpoint(uninterrupted / f"{step}.ckpt")["state_dict"][encoder] for step in (1, 3, 4)}
    assert torch.equal(at[1], at[3]) and not torch.equal(at[3], at[4])


def test_a_method_without_shared_pairs_is_a_user_error(tmp_path, capsys):
    from denselora.cli import main

    freeze = json.dumps({"class_path": "denselora.callbacks.FreezeEncoderDecoder"})
    lora = str(REPO / "lightning_configs" / "baselines" / "lora.yaml")
    with pytest.raises(SystemExit) as exit_info:
        main(
            tiny_run_args(
                tmp_path, "--config", lora, "--model.init_args.adapter.init_args.r", "4", "--trainer.callbacks+", freeze
            )
        )
    assert exit_info.value.code == 2
    assert "error: FreezeEncoderDecoder freezes DenseLoRA's shared encoder/decoder pairs" in capsys.readouterr().err


def test_unfreezing_under_several_processes_is_refused():
    trainer = SimpleNamespace(world_size=2)
    with pytest.raises(ConfigError, match="DDP"):
        FreezeEncoderDecoder(unfreeze_at_step=10).setup(trainer, None, "fit")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"unfreeze_at_step": 0},
        {"unfreeze_at_epoch": -1},
        {"unfreeze_at_step": 3, "unfreeze_at_epoch": 1},
        {"lr_factor": 0},
    ],
)
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        FreezeEncoderDecoder(**kwargs)


def test_unfreezing_needs_a_module_whose_optimizer_has_a_learning_rate_schedule(tmp_path):
    from torch.optim.lr_scheduler import LambdaLR

    from denselora.methods import DenseLoRA
    from denselora.training import FineTuner
    from tests.training.cli_runs import TINY_MODEL

    class PlainSchedule(FineTuner):  # a LambdaLR of its own: no public way to add a group to it
        def configure_optimizers(self):
            optimizer = torch.optim.AdamW(self.trainable_parameters(), lr=self.learning_rate)
            return {"optimizer": optimizer, "lr_scheduler": LambdaLR(optimizer, lambda step: 1.0)}

    module = PlainSchedule(DenseLoRA(r=4, alpha=8), model_config=TINY_MODEL)
    with pytest.raises(ConfigError, match="returns no such schedule"):
        tiny_fit(tmp_path, [FreezeEncoderDecoder(unfreeze_at_step=2)], max_steps=4, module=module)


def test_a_new_learning_rate_at_resume_keeps_the_unfrozen_groups_factor(tmp_path):
    # Resume after the unfreeze (lr_factor 0.5) with another learning rate: both groups move, 2:1 as before.
    halved = json.dumps(
        {
            "class_path": "denselora.callbacks.FreezeEncoderDecoder",
            "init_args": {"unfreeze_at_step": 2, "lr_factor": 0.5},
        }
    )
    args = (*NO_VALIDATION, "--trainer.callbacks+", halved)
    run(tiny_run_args(tmp_path, *args, "--trainer.max_steps", "4"))
    saved = load_checkpoint(run_dirs(tmp_path)[-1] / "checkpoints" / "4.ckpt")
    assert saved["lr_schedulers"][0]["base_lrs"] == pytest.approx([3e-3, 1.5e-3])
    new_rate = ("--model.init_args.learning_rate", "1e-3", "--trainer.max_steps", "6")
    run(
        tiny_run_args(tmp_path, *args, *new_rate, "--ckpt_path", str(run_dirs(tmp_path)[-1] / "checkpoints" / "4.ckpt"))
    )
    resumed = load_checkpoint(run_dirs(tmp_path)[-1] / "checkpoints" / "5.ckpt")
    assert resumed["lr_schedulers"][0]["base_lrs"] == pytest.approx([1e-3, 5e-4])
    groups = resumed["optimizer_states"][0]["param_groups"]
    assert [g["initial_lr"] for g in groups] == pytest.approx([1e-3, 5e-4])
    assert groups[1]["lr"] == pytest.approx(0.5 * groups[0]["lr"]) and groups[0]["lr"] > 0
