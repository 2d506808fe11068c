"""``python -m denselora figure``: the paper-style comparison drawn from a DenseLoRA run and a LoRA run."""

import pytest
from matplotlib.image import imread

from denselora.__main__ import main
from denselora.analysis import SNAPSHOT_FILE, UpdateSnapshot
from denselora.cli.figure import render_comparison


def _exit_code(args):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code


def test_a_denselora_run_and_a_lora_run_make_one_png(density_runs, tmp_path, capsys):
    output = tmp_path / "figures" / "fig5.png"
    runs = [str(density_runs["denselora"]), str(density_runs["lora"])]
    assert _exit_code(["figure", *runs, "--layer", "1", "--target", "down_proj", "-o", str(output)]) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    picture = imread(output)
    assert picture.shape[1] > 2.5 * picture.shape[0]  # three square panels side by side, and a colour bar
    assert picture[..., :3].std() > 0.05


def test_panels_are_on_one_relative_scale(density_runs):
    snapshots = [UpdateSnapshot.load(density_runs[m] / SNAPSHOT_FILE) for m in ("denselora", "lora")]
    figure = render_comparison(snapshots, "layer0.q_proj")
    panels = [ax for ax in figure.axes if ax.images]
    assert panels[0].get_title().split("\n")[0] == "DenseLoRA |ΔM|"
    assert [ax.get_title().split(" ")[:2] for ax in panels[1:]] == [["LoRA", "|ΔA|"], ["LoRA", "|ΔB|"]]
    assert all(ax.images[0].get_clim() == (0.0, 1.0) for ax in panels)
    assert all(ax.images[0].get_array().max() == pytest.approx(1.0) for ax in panels)
    absolute = render_comparison(snapshots, "layer0.q_proj", scale="absolute")
    top = max(ax.images[0].get_array().max() for ax in absolute.axes if ax.images)
    assert all(ax.images[0].get_clim() == (0.0, pytest.approx(top)) for ax in absolute.axes if ax.images)


def test_user_errors_exit_2_with_one_message(density_runs, tmp_path, capsys):
    assert _exit_code(["figure", str(tmp_path / "nowhere")]) == 2
    assert "error: " in capsys.readouterr().err
    (tmp_path / "plain-run").mkdir()
    assert _exit_code(["figure", str(tmp_path / "plain-run")]) == 2
    assert "callbacks/update_density.yaml" in capsys.readouterr().err
    assert _exit_code(["figure", str(density_runs["denselora"]), "--target", "o_proj"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no adapted layer matching --target o_proj") and "layer0.q_proj" in err
    assert "Traceback" not in err


def test_the_file_written_is_the_file_named_and_bad_outputs_are_refused(density_runs, tmp_path, capsys):
    runs = [str(density_runs["denselora"]), str(density_runs["lora"])]
    assert _exit_code(["figure", *runs, "-o", str(tmp_path / "fig")]) == 0
    assert f"wrote {tmp_path / 'fig.png'}" in capsys.readouterr().out and (tmp_path / "fig.png").is_file()
    for dpi in ("0", "100000"):
        assert _exit_code(["figure", *runs, "--dpi", dpi, "-o", str(tmp_path / "x.png")]) == 2
        assert "expected 20 to 600 dots per inch" in capsys.readouterr().err
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert _exit_code(["figure", *runs, "-o", str(blocked / "fig.png")]) == 2
    assert f"cannot write {blocked / 'fig.png'}" in capsys.readouterr().err
