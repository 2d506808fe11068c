"""The shipped real-model recipe runs end to end through the command line, with DenseLoRA and with the LoRA
preset stacked on it (a few steps and items; the full run's numbers are in the README)."""

import json

import pytest

from denselora.cli import main
from tests.training.cli_runs import REPO

RECIPE = REPO / "lightning_configs" / "smollm2_commonsense.yaml"
LORA = REPO / "lightning_configs" / "baselines" / "lora.yaml"
SETS = ["boolq", "ARC-Easy", "ARC-Challenge", "openbookqa"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("presets", "name", "trainable"), [((), "smollm2-commonsense", 148_992), ((LORA,), "lora", 6_635_520)]
)
def test_the_recipe_fits_and_evaluates_from_the_command_line(
    real_model_spec, shared_data, datasets_cache, tmp_path, presets, name, trainable
):
    stacked = [arg for preset in presets for arg in ("--config", str(preset))]
    main([
        "fit", "--config", str(RECIPE), *stacked,
        "--model.init_args.pretrained", real_model_spec,
        "--data.init_args.tokenizer", real_model_spec,
        "--data.init_args.data_dir", str(shared_data.root),
        "--data.init_args.cache_dir", datasets_cache,
        "--data.init_args.val_size", "4",
        "--data.init_args.eval_limit", "2",
        "--data.init_args.micro_batch_size", "2",
        "--model.init_args.max_new_tokens", "4",
        "--trainer.max_steps", "2",
        "--trainer.val_check_interval", "2",
        "--trainer.enable_progress_bar", "false",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
    ])  # fmt: skip
    (run_dir,) = (tmp_path / "runs" / name).glob("version_*")
    assert json.loads((run_dir / "parameters.json").read_text())["trainable"] == trainable
    results = json.loads((run_dir / "evaluation" / "results.json").read_text())
    assert list(results["datasets"]) == SETS
    assert all(entry["scored"] == 2 for entry in results["datasets"].values())
    assert (run_dir / "adapter").is_dir()
