"""A native method written outside the package: one registration, then it trains through the command line,
and what reads only a run's files (the dashboards, figure) knows it by name."""

import json

import pytest
from safetensors.torch import load_file

from denselora.analysis import UpdateSnapshot
from denselora.methods import DenseLoRA, display_name, register_method, registered_methods
from tests.methods.toy_method import ToyScale
from tests.training.cli_runs import run, run_dirs, tiny_run_args


def test_the_shipped_methods_are_registered_by_their_short_names():
    assert {"denselora", "lora", "dora", "vera"} <= set(registered_methods())
    assert [display_name(name) for name in ("denselora", "lora", "dora", "vera")] == [
        "DenseLoRA",
        "LoRA",
        "DoRA",
        "VeRA",
    ]
    assert display_name("not-registered") == "not-registered"


def test_a_name_is_registered_once():
    class Impostor(ToyScale):
        pass

    with pytest.raises(ValueError, match="is ToyScale's already"):
        register_method(Impostor)
    assert register_method(DenseLoRA) is DenseLoRA  # registering the same class again is harmless


def test_a_toy_method_from_outside_the_package_trains_through_the_cli(tmp_path):
    toy = json.dumps({"class_path": "tests.methods.toy_method.ToyScale", "init_args": {"target_modules": ["q_proj"]}})
    monitor = json.dumps({"class_path": "denselora.callbacks.UpdateDensityMonitor", "init_args": {"every_n_steps": 2}})
    run(tiny_run_args(tmp_path, "--model.init_args.adapter", toy, "--trainer.callbacks+", monitor))
    (run_dir,) = run_dirs(tmp_path)
    record = json.loads((run_dir / "parameters.json").read_text())
    assert (record["method"], record["r"], record["trainable"]) == ("toyscale", None, 2 * 32)  # 2 blocks x width
    scales = load_file(run_dir / "adapter" / "toy.safetensors")
    assert len(scales) == 2 and all(t.abs().sum() > 0 for t in scales.values())  # trained away from zero
    snapshot = UpdateSnapshot.load(run_dir / "update_density.safetensors")
    assert snapshot.method == "toyscale" and snapshot.groups() == ["layer0.q_proj"]
    assert display_name(snapshot.method) == "Toy scale"
