"""The update-density dashboard, read back from the TensorBoard event files as a user's TensorBoard would."""

import io
import json

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import HISTOGRAMS, IMAGES, SCALARS, EventAccumulator

from denselora.analysis import SNAPSHOT_FILE, UpdateSnapshot
from denselora.callbacks import UpdateDensityMonitor
from denselora.errors import ConfigError
from tests.conftest import LLAMA_TARGETS
from tests.training.cli_runs import load_checkpoint, run, run_dirs, tiny_run_args

GROUPS = [f"layer{i}.{t}" for i in (0, 1) for t in ("q_proj", "down_proj")]
STATISTICS = ("active_share", "mean_over_max", "effective_rank", "max_abs")


def _events(run_dir):
    return EventAccumulator(str(run_dir), size_guidance={IMAGES: 0, SCALARS: 0, HISTOGRAMS: 0}).Reload()


@pytest.mark.parametrize(("method", "matrices", "r"), [("denselora", ["M"], 16), ("lora", ["A", "B"], 8)])
def test_heatmaps_scalars_and_histograms_are_logged_every_n_steps(density_runs, method, matrices, r):
    events = _events(density_runs[method])
    tags = events.Tags()
    assert sorted(t for t in tags["images"] if t.startswith("update_density/")) == sorted(
        f"update_density/{g}" for g in GROUPS
    )
    for group in GROUPS:
        images = events.Images(f"update_density/{group}")
        assert [image.step for image in images] == [3, 6]
        picture = imread(io.BytesIO(images[-1].encoded_image_string), format="png")
        assert picture.shape[:2] == (images[-1].height, images[-1].width) and picture.shape[1] > picture.shape[0]
        assert picture.std() > 0.05  # a drawing, not a blank canvas
        for matrix in matrices:
            key = f"update_density/{group}/{matrix}"
            series = {name: [e.value for e in events.Scalars(f"{key}/{name}")] for name in STATISTICS}
            assert [e.step for e in events.Scalars(f"{key}/max_abs")] == [3, 6]
            assert series["max_abs"][-1] > 0
            for i, size in enumerate(series["max_abs"]):
                if size == 0:  # not moved yet: M and A get no gradient before the zero-initialised W_d or B moves
                    assert all(series[name][i] == 0 for name in STATISTICS)
                    continue
                assert 0 < series["active_share"][i] <= 1 and 0 < series["mean_over_max"][i] <= 1
                assert 1 <= series["effective_rank"][i] <= r
            assert len(events.Histograms(key)) == 2
    sizes = [e.value for e in events.Scalars(f"update_density/layer0.q_proj/{matrices[0]}/max_abs")]
    assert sizes[0] < sizes[-1]  # the update grows as training goes on


def test_the_snapshot_holds_the_start_and_the_last_trained_state(density_runs):
    snapshot = UpdateSnapshot.load(density_runs["denselora"] / SNAPSHOT_FILE)
    assert (snapshot.method, snapshot.step, snapshot.groups()) == ("denselora", 6, GROUPS)
    last = load_checkpoint(density_runs["denselora"] / "checkpoints" / "last.ckpt")["state_dict"]
    matrix = snapshot.matrices["layer1.down_proj/M"]
    assert torch.equal(matrix.current, last["model.model.layers.1.mlp.down_proj.M"])
    assert matrix.delta.abs().max() > 0

    lora = UpdateSnapshot.load(density_runs["lora"] / SNAPSHOT_FILE)
    a, b = lora.matrices["layer0.q_proj/A"], lora.matrices["layer0.q_proj/B"]
    assert a.initial.shape == b.initial.shape == (8, 8)
    # LoRA's B starts at zero, so its update is the matrix itself.
    assert torch.equal(b.initial, torch.zeros(8, 8)) and torch.equal(b.delta, b.current)
    full_a = last_lora_tensor(density_runs["lora"], "layers.0.self_attn.q_proj.lora_A.default.weight")
    assert torch.equal(a.current, full_a[a.rows[0] : a.rows[1], a.cols[0] : a.cols[1]])


def last_lora_tensor(run_dir, suffix):
    state = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")["state_dict"]
    (name,) = [k for k in state if k.endswith(suffix)]
    return state[name]


def test_a_resumed_run_measures_from_the_original_start(density_runs, tmp_path):
    original = UpdateSnapshot.load(density_runs["denselora"] / SNAPSHOT_FILE)
    # The settings of the density_runs fixture, resumed from its last checkpoint for two more steps.
    monitor = json.dumps(
        {
            "class_path": "denselora.callbacks.UpdateDensityMonitor",
            "init_args": {"every_n_steps": 3, "layers": [0, -1], "targets": ["q_proj", "down_proj"]},
        }
    )
    checkpoint = density_runs["denselora"] / "checkpoints" / "last.ckpt"
    run(
        tiny_run_args(
            tmp_path, "--trainer.callbacks+", monitor, "--trainer.max_steps", "8", "--ckpt_path", str(checkpoint)
        )
    )
    resumed = UpdateSnapshot.load(run_dirs(tmp_path)[-1] / SNAPSHOT_FILE)
    assert resumed.step == 8
    for key, matrix in original.matrices.items():
        assert torch.equal(resumed.matrices[key].initial, matrix.initial), key


def test_without_a_logger_the_run_goes_on_and_the_snapshot_is_written(tmp_path):
    from tests.callbacks.tiny_fit import tiny_fit

    with pytest.warns(UserWarning, match="no TensorBoardLogger"):
        tiny_fit(tmp_path, [UpdateDensityMonitor(every_n_steps=3)], max_steps=3)
    snapshot = UpdateSnapshot.load(tmp_path / "root" / SNAPSHOT_FILE)
    assert snapshot.step == 3 and snapshot.groups() == [f"layer0.{t}" for t in LLAMA_TARGETS]


def test_vera_is_warned_about_and_left_alone(tmp_path):
    from tests.training.cli_runs import REPO

    monitor = json.dumps({"class_path": "denselora.callbacks.UpdateDensityMonitor"})
    vera = REPO / "lightning_configs" / "baselines" / "vera.yaml"
    with pytest.warns(UserWarning, match="no DenseLoRA M or LoRA A/B"):
        run(
            tiny_run_args(
                tmp_path, "--config", str(vera), "--model.init_args.adapter.init_args.r", "8",
                "--trainer.callbacks+", monitor, "--trainer.max_steps", "2",
            )
        )  # fmt: skip
    (run_dir,) = sorted((tmp_path / "runs" / "vera").glob("version_*"))
    assert not (run_dir / SNAPSHOT_FILE).exists()
    assert not [t for t in _events(run_dir).Tags()["scalars"] if t.startswith("update_density/")]


@pytest.mark.parametrize("kwargs", [{"every_n_steps": 0}, {"threshold": 1.0}, {"threshold": 0.0}])
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        UpdateDensityMonitor(**kwargs)


def test_heatmap_panels_share_one_colour_scale():
    from denselora.analysis import render_heatmaps

    figure = render_heatmaps([("a", np.full((4, 4), 2.0)), ("b", np.full((4, 4), 0.5))])
    images = [ax.images[0] for ax in figure.axes if ax.images]
    assert [image.get_clim() for image in images] == [(0.0, 2.0), (0.0, 2.0)]
    assert len(figure.axes) == 3  # two panels and one colour bar
