"""The stackable callback presets in callbacks/: each adds its callback, and stacking keeps the others."""

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator

from denselora.cli import main
from tests.training.cli_runs import REPO, run, run_dirs, tiny_run_args

PRESETS = sorted((REPO / "callbacks").glob("*.yaml"))
COMMONSENSE = REPO / "lightning_configs" / "commonsense.yaml"


def _callbacks(capsys, *configs):
    args = ["fit"]
    for config in configs:
        args += ["--config", str(config)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--print_config"])
    assert exit_info.value.code == 0
    return [c["class_path"] for c in yaml.safe_load(capsys.readouterr().out)["trainer"]["callbacks"] or []]


def test_the_presets_are_the_three_documented_ones():
    assert [p.stem for p in PRESETS] == ["freeze_encoder_decoder", "freeze_then_unfreeze", "update_density"]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.stem)
def test_each_preset_parses_on_a_task_config_and_adds_its_callback(preset, capsys):
    expected = "UpdateDensityMonitor" if preset.stem == "update_density" else "FreezeEncoderDecoder"
    assert _callbacks(capsys, COMMONSENSE, preset) == [f"denselora.callbacks.{expected}"]


def test_stacked_presets_append_to_the_callbacks_before_them(tmp_path, capsys):
    base = tmp_path / "base.yaml"
    base.write_text("trainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.EarlyStopping\n")
    base.write_text(base.read_text() + "      init_args:\n        monitor: val/loss\n")
    stacked = _callbacks(
        capsys,
        COMMONSENSE,
        base,
        REPO / "callbacks" / "update_density.yaml",
        REPO / "callbacks" / "freeze_then_unfreeze.yaml",
    )
    assert stacked == [
        "lightning.pytorch.callbacks.EarlyStopping",
        "denselora.callbacks.UpdateDensityMonitor",
        "denselora.callbacks.FreezeEncoderDecoder",
    ]


def test_the_density_and_freeze_presets_fit_together(tmp_path):
    presets = ("--config", str(REPO / "callbacks" / "update_density.yaml"))
    presets += ("--config", str(REPO / "callbacks" / "freeze_encoder_decoder.yaml"))
    run(tiny_run_args(tmp_path, *presets, "--model.init_args.adapter.init_args.r", "4", "--trainer.max_steps", "3"))
    (run_dir,) = run_dirs(tmp_path)
    events = EventAccumulator(str(run_dir), size_guidance={IMAGES: 0}).Reload()
    # every_n_steps is 50, so a 3-step run logs once, when training ends; layers [0, -1] of a 2-block model.
    images = sorted(t for t in events.Tags()["images"] if t.startswith("density/"))
    assert len(images) == 10 and all(len(events.Images(t)) == 1 for t in images)
    assert events.Images(images[0])[0].step == 3
    scalars = events.Tags()["scalars"]
    assert "density/layer1.up_proj/active_share" in scalars
    assert "update_density/layer1.up_proj/M/active_share" in scalars
