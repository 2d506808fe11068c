"""Tiny fine-tuned runs for the lm-eval harness tests: the live module beside its checkpoint, exported adapter and
config, and the bare base saved as a model folder.

Each run is laid out as the command line lays it out (``<root>/<method>/version_0/`` with ``config.yaml``,
``environment.json``, ``checkpoints/last.ckpt`` and ``adapter/``); the fit itself runs in this process, so the
trained model is still in memory to compare with what is loaded from the files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
import yaml

from denselora.methods import DenseLoRA, LoRA
from denselora.models import ConfigModel, load_tokenizer
from denselora.quickstart.datamodule import QuickstartDataModule
from denselora.training import FineTuner
from tests.training.cli_runs import TINY_MODEL

METHODS = ("denselora", "lora")


@dataclass
class FittedRun:
    """A tiny fit: ``module`` (trained, in eval mode) and the files of its run directory."""

    module: FineTuner
    run_dir: Path

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / "checkpoints" / "last.ckpt"

    @property
    def adapter(self) -> Path:
        return self.run_dir / "adapter"

    @property
    def inner_model(self) -> torch.nn.Module:
        """The ``transformers`` model that runs the trained adapter (PEFT's model under its ``PeftModel``)."""
        model = self.module.model
        return model.get_base_model() if hasattr(model, "get_base_model") else model


_RUNS: dict[Path, dict[str, FittedRun]] = {}


def fitted_runs(root: Path) -> dict[str, FittedRun]:
    """A DenseLoRA and a LoRA run (rank 4, six steps at a high learning rate, so the adapter moves far from its
    initialisation) and the bare base folder ``<root>/base``, made once per ``root``."""
    if root not in _RUNS:
        _RUNS[root] = {method: _fit(root, method) for method in METHODS}
        _save_base(root / "base")
    return _RUNS[root]


def bare_base() -> torch.nn.Module:
    """The random base the runs adapt: the tiny config drawn from seed 0, as ``FineTuner.configure_model`` draws it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return ConfigModel(TINY_MODEL).build(None, load_tokenizer("denselora/tiny")).eval()


def _fit(root: Path, method: str) -> FittedRun:
    L.seed_everything(0, verbose=False)
    adapter = DenseLoRA(r=4, alpha=8) if method == "denselora" else LoRA(r=4, alpha=8)
    module = FineTuner(adapter, model_config=TINY_MODEL, warmup_steps=1, learning_rate=2e-2)
    data = QuickstartDataModule(
        data_dir=str(root / "data"), train_size=64, test_size=2, val_size=16, micro_batch_size=8, cutoff_len=64
    )
    run_dir = root / method / "version_0"
    # default_root_dir is where the fine-tuner exports its adapter when fitting ends (<run>/adapter) without a logger.
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=6,
        logger=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(run_dir),
    )
    trainer.fit(module, datamodule=data)
    trainer.save_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    hyper_parameters = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]
    # What the command line records beside the checkpoints: the tokenizer is the data module's there, linked to the
    # model's, and the seed is the one the base and the adapter were drawn from.
    init_args = {key: value for key, value in hyper_parameters.items() if key != "tokenizer"}
    config = {
        "seed_everything": 0,
        "model": {"class_path": "denselora.training.FineTuner", "init_args": init_args},
        "data": {"init_args": {"tokenizer": hyper_parameters["tokenizer"]}},
    }
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / "environment.json").write_text(json.dumps({"seed": 0}))
    module.eval()
    return FittedRun(module, run_dir)


def _save_base(folder: Path) -> None:
    bare_base().save_pretrained(folder)
    load_tokenizer("denselora/tiny").save_pretrained(folder)
