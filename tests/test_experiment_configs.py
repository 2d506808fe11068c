"""The paper's experiments as presets on the commonsense recipe: their values, and a few steps of each on the tiny
model (at r=4: the tiny model is 32 wide). tests/test_cli.py parses every one of them stacked on commonsense.yaml."""

import json

import pytest
import yaml

from tests.training.cli_runs import REPO, load_checkpoint, run, tiny_run_args

EXPERIMENTS = REPO / "lightning_configs" / "experiments"
ALL = sorted(EXPERIMENTS.rglob("*.yaml"))
LETTERS = {
    "q": "q_proj",
    "k": "k_proj",
    "v": "v_proj",
    "o": "o_proj",
    "g": "gate_proj",
    "u": "up_proj",
    "d": "down_proj",
}


def _load(path):
    return yaml.safe_load(path.read_text())


def _adapter(config):
    return config["model"]["init_args"]["adapter"]["init_args"]


def _id(path):
    return str(path.relative_to(EXPERIMENTS))


def test_the_paper_settings_are_all_there():
    names = {_id(p).removesuffix(".yaml") for p in ALL}
    assert names == {
        *(f"ranks/r{r}" for r in (16, 32, 64, 128, 256, 512)),
        *(f"granularity/{t}" for t in ("qkv", "ud", "qkvud", "qkvogud")),
        *(f"low_resource/data{p}" for p in (10, 20, 40, 60, 80)),
        "ablations/freeze_r128",
        "ablations/only_matrix",
    }
    run_names = [_load(p)["trainer"]["logger"]["init_args"]["name"] for p in ALL]
    assert len(set(run_names)) == len(run_names)  # every experiment writes to its own runs/<name>/


@pytest.mark.parametrize("path", sorted((EXPERIMENTS / "ranks").glob("*.yaml")), ids=_id)
def test_ranks_set_alpha_to_twice_the_rank(path):
    adapter = _adapter(_load(path))
    assert adapter["r"] == int(path.stem.removeprefix("r")) and adapter["alpha"] == 2 * adapter["r"]


@pytest.mark.parametrize("path", sorted((EXPERIMENTS / "granularity").glob("*.yaml")), ids=_id)
def test_granularity_targets_match_the_letters_at_rank_32(path):
    adapter = _adapter(_load(path))
    assert adapter["target_modules"] == [LETTERS[letter] for letter in path.stem]
    assert (adapter["r"], adapter["alpha"]) == (32, 64)


@pytest.mark.parametrize("path", sorted((EXPERIMENTS / "low_resource").glob("*.yaml")), ids=_id)
def test_low_resource_fractions_at_rank_32(path):
    config = _load(path)
    assert config["data"]["init_args"]["train_fraction"] == int(path.stem.removeprefix("data")) / 100
    assert (_adapter(config)["r"], _adapter(config)["alpha"]) == (32, 64)


def test_the_ablations_of_table_4():
    freeze = _load(EXPERIMENTS / "ablations" / "freeze_r128.yaml")
    assert (_adapter(freeze)["r"], _adapter(freeze)["alpha"]) == (128, 256)
    assert [c["class_path"] for c in freeze["trainer"]["callbacks+"]] == ["denselora.callbacks.FreezeEncoderDecoder"]
    only_matrix = _adapter(_load(EXPERIMENTS / "ablations" / "only_matrix.yaml"))
    assert (only_matrix["r"], only_matrix["activation"]) == (32, "identity")


TINY = (
    "--model.init_args.adapter.init_args.r", "4",
    "--model.init_args.adapter.init_args.alpha", "8",
    "--trainer.max_steps", "2",
    "--trainer.limit_val_batches", "0",
    "--checkpoint.monitor", "null",
    "--checkpoint.save_top_k", "0",
)  # fmt: skip


# Every setting that changes what is built or what data is read: the ablations, each target set, the largest rank
# (overridden to 4 here, as every rank) and the smallest fraction (one batch an epoch on the tiny data).
FITTED = [
    EXPERIMENTS / "ablations" / "freeze_r128.yaml",
    EXPERIMENTS / "ablations" / "only_matrix.yaml",
    *sorted((EXPERIMENTS / "granularity").glob("*.yaml")),
    EXPERIMENTS / "ranks" / "r512.yaml",
    EXPERIMENTS / "low_resource" / "data10.yaml",
]


@pytest.mark.parametrize("path", FITTED, ids=_id)
def test_experiments_fit_a_few_steps_on_the_tiny_model(tmp_path, path):
    config = _load(path)
    run(tiny_run_args(tmp_path, "--config", str(path), *TINY))
    (run_dir,) = (tmp_path / "runs" / config["trainer"]["logger"]["init_args"]["name"]).glob("version_*")
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert checkpoint["global_step"] == 2
    built = checkpoint["adapter"]["config"]
    wanted = _adapter(config)
    assert built["r"] == 4
    assert built["target_modules"] == wanted.get("target_modules", built["target_modules"])
    assert built["activation"] == wanted.get("activation", "gelu")
    record = json.loads((run_dir / "parameters.json").read_text())
    layers = 2 * len(built["target_modules"])
    if path.stem == "freeze_r128":
        assert record["trainable"] == layers * 4 * 4  # the M matrices only
    else:
        assert record["trainable"] > layers * 4 * 4  # the M matrices and the shared pairs
    fraction = yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["init_args"]["train_fraction"]
    assert fraction == config.get("data", {}).get("init_args", {}).get("train_fraction", 1.0)
