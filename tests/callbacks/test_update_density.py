"""The update-density dashboard, read back from the TensorBoard event files as a user's TensorBoard would."""

import io
import json
import re

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import (
    HISTOGRAMS,
    IMAGES,
    SCALARS,
    TENSORS,
    EventAccumulator,
)

from denselora.analysis import SNAPSHOT_FILE, UpdateSnapshot
from denselora.callbacks import UpdateDensityMonitor
from denselora.callbacks.update_density import COMPARABLE, SUMMARY_TAG
from denselora.errors import ConfigError
from tests.conftest import LLAMA_TARGETS
from tests.training.cli_runs import load_checkpoint, run, run_dirs, tiny_run_args

GROUPS = [f"layer{i}.{t}" for i in (0, 1) for t in ("q_proj", "down_proj")]
STATISTICS = ("active_share", "mean_over_max", "effective_rank", "max_abs")
#: About the width TensorBoard's image dashboard gives a card at its default settings, in pixels.
CARD_WIDTH = 420


def _events(run_dir):
    return EventAccumulator(str(run_dir), size_guidance={IMAGES: 0, SCALARS: 0, HISTOGRAMS: 0, TENSORS: 0}).Reload()


@pytest.mark.parametrize(("method", "matrices", "r"), [("denselora", ["M"], 16), ("lora", ["A", "B"], 8)])
def test_heatmaps_scalars_and_histograms_are_logged_every_n_steps(density_runs, method, matrices, r):
    events = _events(density_runs[method])
    tags = events.Tags()
    # One image per matrix: LoRA's A and B are two images, each legible at TensorBoard's card width.
    assert sorted(t for t in tags["images"] if t.startswith("density/")) == sorted(
        f"density/{g}/{m}" for g in GROUPS for m in matrices
    )
    for group in GROUPS:
        for matrix in matrices:
            key = f"{group}/{matrix}"
            images = events.Images(f"density/{key}")
            assert [image.step for image in images] == [3, 6]
            picture = imread(io.BytesIO(images[-1].encoded_image_string), format="png")
            assert picture.shape[:2] == (images[-1].height, images[-1].width)
            assert picture.shape[1] <= CARD_WIDTH  # shown at its own size, not shrunk into the card
            assert picture.std() > 0.05  # a drawing, not a blank canvas
            series = {name: [e.value for e in events.Scalars(f"update_density/{key}/{name}")] for name in STATISTICS}
            assert [e.step for e in events.Scalars(f"update_density/{key}/max_abs")] == [3, 6]
            assert series["max_abs"][-1] > 0
            for i, size in enumerate(series["max_abs"]):
                if size == 0:  # not moved yet: M and A get no gradient before the zero-initialised W_d or B moves
                    assert all(series[name][i] == 0 for name in STATISTICS)
                    continue
                assert 0 < series["active_share"][i] <= 1 and 0 < series["mean_over_max"][i] <= 1
                assert 1 <= series["effective_rank"][i] <= r
            assert len(events.Histograms(f"update_density/{key}")) == 2
    sizes = [e.value for e in events.Scalars(f"update_density/layer0.q_proj/{matrices[0]}/max_abs")]
    assert sizes[0] < sizes[-1]  # the update grows as training goes on


@pytest.mark.parametrize("method", ["denselora", "lora"])
def test_the_per_layer_scalars_are_the_mean_over_the_layers_matrices(density_runs, method):
    events = _events(density_runs[method])
    matrices = ["M"] if method == "denselora" else ["A", "B"]
    for group in GROUPS:
        for name in COMPARABLE:
            layer = [e.value for e in events.Scalars(f"density/{group}/{name}")]
            each = [[e.value for e in events.Scalars(f"update_density/{group}/{m}/{name}")] for m in matrices]
            assert layer == pytest.approx([sum(values) / len(values) for values in zip(*each, strict=True)])


def test_both_methods_log_their_layers_under_the_same_tags(density_runs):
    # The same tag in two runs is one TensorBoard chart with a curve per run: DenseLoRA's and LoRA's density
    # of a layer on one axis.
    def layer_tags(run_dir):
        return sorted(t for t in _events(run_dir).Tags()["scalars"] if t.startswith("density/"))

    expected = sorted(f"density/{g}/{name}" for g in GROUPS for name in COMPARABLE)
    assert layer_tags(density_runs["denselora"]) == layer_tags(density_runs["lora"]) == expected


@pytest.mark.parametrize("method", ["denselora", "lora"])
def test_the_custom_scalars_layout_shows_the_comparison_first(density_runs, method):
    from tensorboard.plugins.custom_scalar import layout_pb2

    events = _events(density_runs[method])
    (config,) = events.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(config.tensor_proto.string_val[0])
    first = layout.category[0]
    assert "active_share" in first.chart[0].title and "all methods" in first.title
    assert [chart.title for chart in first.chart] == [f"{g} active_share" for g in GROUPS]
    scalars = events.Tags()["scalars"]
    for category in layout.category:
        for chart in category.chart:
            (pattern,) = chart.multiline.tag
            assert [t for t in scalars if re.search(pattern, t)], pattern  # every chart draws something


@pytest.mark.parametrize("method", ["denselora", "lora"])
def test_the_run_ends_with_one_picture_of_its_density_over_training(density_runs, method):
    events = _events(density_runs[method])
    (summary,) = events.Images(SUMMARY_TAG)
    assert summary.step == 6
    picture = imread(io.BytesIO(summary.encoded_image_string), format="png")
    assert picture.shape[:2] == (summary.height, summary.width) and picture.std() > 0.05
    assert picture.shape[1] <= CARD_WIDTH  # shown at its own size, legend legible
    # What it draws: each layer's active_share at each logged step, the values TensorBoard's scalars hold.
    state = load_checkpoint(density_runs[method] / "checkpoints" / "last.ckpt")["callbacks"]
    (monitor,) = [value for key, value in state.items() if key.startswith("UpdateDensityMonitor")]
    assert list(monitor["history"]) == GROUPS  # the same layers in the same order (so colours) for both methods
    for group, points in monitor["history"].items():
        logged = [(e.step, e.value) for e in events.Scalars(f"density/{group}/active_share")]
        assert [step for step, _ in points] == [3, 6]
        np.testing.assert_allclose([value for _, value in points], [value for _, value in logged], rtol=1e-6)


@pytest.mark.parametrize("method", ["denselora", "lora"])
def test_no_tag_holds_two_kinds_of_data(density_runs, method):
    # TensorBoard's default loader keeps one kind per tag: an image and a histogram under one tag show as neither.
    tags = _events(density_runs[method]).Tags()
    kinds = [set(tags[kind]) for kind in ("images", "histograms", "scalars")]
    assert not (kinds[0] & kinds[1] or kinds[0] & kinds[2] or kinds[1] & kinds[2])


@pytest.mark.parametrize("method", ["denselora", "lora"])
def test_no_placeholder_hp_metric(density_runs, method):
    assert "hp_metric" not in _events(density_runs[method]).Tags()["scalars"]


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
    # The fixture's data too: the synthetic sets draw the training records after the test ones, so another
    # test_size would train on other records, which the resume refuses.
    run(
        tiny_run_args(
            tmp_path, "--trainer.callbacks+", monitor, "--trainer.max_steps", "8", "--ckpt_path", str(checkpoint),
            "--data.init_args.test_size", "2",
        )
    )  # fmt: skip
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
    with pytest.warns(UserWarning, match=r"the method \(vera\) watches no matrix"):
        run(
            tiny_run_args(
                tmp_path, "--config", str(vera), "--model.init_args.adapter.init_args.r", "8",
                "--trainer.callbacks+", monitor, "--trainer.max_steps", "2",
            )
        )  # fmt: skip
    (run_dir,) = sorted((tmp_path / "runs" / "vera").glob("version_*"))
    assert not (run_dir / SNAPSHOT_FILE).exists()
    assert not [t for t in _events(run_dir).Tags()["scalars"] if t.startswith("density")]


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


@pytest.mark.parametrize("panels", [1, 3])
def test_heatmap_text_stays_inside_the_image(panels):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from denselora.analysis import render_heatmaps

    named = [(f"|ΔA|, rows 0:32, cols {i}:{i + 32}", np.random.default_rng(i).random((16, 16))) for i in range(panels)]
    figure = render_heatmaps(named, title="LoRA layer0.down_proj, step 6", colorbar_label="|Δ| / max |Δ|")
    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    box = figure.bbox
    texts = [t for t in figure.findobj(lambda a: hasattr(a, "get_text")) if t.get_visible() and t.get_text()]
    assert any(t.get_text() == "|Δ| / max |Δ|" for t in texts)  # the colour bar's label is among them
    for text in texts:
        extent = text.get_window_extent(renderer)
        inside = box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1
        assert inside, (text.get_text(), extent, box)
