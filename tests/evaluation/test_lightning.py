"""The evaluator inside a LightningModule's test loop, fed by the data module's test loaders."""

from __future__ import annotations

import json

import lightning as L

from denselora.data import LLMAdaptersDataModule
from denselora.evaluation import Evaluator
from denselora.quickstart import QUICKSTART_EVAL_DATASETS
from tests.evaluation.conftest import build_model


class EvalOnly(L.LightningModule):
    def __init__(self, tokenizer, output_dir):
        super().__init__()
        self.model = build_model(tokenizer)
        self.output_dir = output_dir
        self.result = None

    def on_test_epoch_start(self):
        dm = self.trainer.datamodule
        self.evaluator = Evaluator(
            dm.eval_sets, dm.tokenizer, self.output_dir, num_beams=2, max_new_tokens=6,
            rank=self.global_rank, world_size=self.trainer.world_size, print_fn=None,
        )  # fmt: skip

    def test_step(self, batch, batch_idx, dataloader_idx=0):
        self.evaluator.step(self.model, batch, dataloader_idx)

    def on_test_epoch_end(self):
        self.result = self.evaluator.finish()
        self.log_dict(self.result.metrics("test"))


def test_trainer_test_runs_the_evaluator(quickstart_root, datasets_cache, tmp_path):
    dm = LLMAdaptersDataModule(
        str(quickstart_root), eval_datasets=list(QUICKSTART_EVAL_DATASETS), eval_limit=5, eval_batch_size=2,
        cache_dir=datasets_cache,
    )  # fmt: skip
    module = EvalOnly(dm.tokenizer, tmp_path)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.test(module, datamodule=dm)
    summary = json.loads((tmp_path / "results.json").read_text())
    assert list(summary["datasets"]) == list(QUICKSTART_EVAL_DATASETS)
    for name in QUICKSTART_EVAL_DATASETS:
        assert summary["datasets"][name]["scored"] == 5
        assert len((tmp_path / "predictions" / f"{name}.jsonl").read_text().splitlines()) == 5
    assert "test/mean_accuracy" in trainer.callback_metrics
