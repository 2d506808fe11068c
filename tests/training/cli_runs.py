"""Running the command line in-process on a tiny model, for the training tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from denselora.cli import main

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "lightning_configs" / "quickstart.yaml"

TINY_MODEL = {
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}


def tiny_run_args(tmp_path: Path, *extra: str, subcommand: str = "fit") -> list[str]:
    """The quickstart config shrunk to seconds: a random 2-layer model of width 32 and ~100 records."""
    return [
        subcommand,
        "--config", str(QUICKSTART),
        "--model.init_args.pretrained", "null",
        "--model.init_args.model_config", json.dumps(TINY_MODEL),
        "--model.init_args.num_beams", "1",
        "--model.init_args.max_new_tokens", "8",
        "--test_after_fit", "false",
        "--model.init_args.warmup_steps", "2",
        "--data.init_args.data_dir", str(tmp_path / "data"),
        "--data.init_args.train_size", "96",
        "--data.init_args.test_size", "6",
        "--data.init_args.val_size", "16",
        "--data.init_args.micro_batch_size", "8",
        "--data.init_args.eval_batch_size", "4",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
        "--trainer.max_steps", "6",
        "--trainer.val_check_interval", "3",
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        "--trainer.log_every_n_steps", "1",
        *extra,
    ]  # fmt: skip


def run(args: list[str]) -> None:
    main(args)


def run_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "runs" / "quickstart").glob("version_*"))


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)
