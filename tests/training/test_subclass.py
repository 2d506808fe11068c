"""A new task by subclassing: the documented hooks are all a subclass needs to override."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from denselora.errors import ConfigError
from denselora.methods import DenseLoRA
from denselora.training import FineTuner
from tests.training.cli_runs import TINY_MODEL

VOCAB = 64


class AnswerTask(L.LightningDataModule):
    """Sequences ``x1..x6 | 7 7 7 7 7 7``: after the separator, answer 7; only the answer is scored."""

    def _batches(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        first = torch.randint(3, VOCAB, (n, 6), generator=g)
        ids = torch.cat([first, torch.full((n, 1), 2), torch.full((n, 6), 7)], dim=1)
        labels = ids.clone()
        labels[:, :7] = -100
        return [{"input_ids": ids[i : i + 8], "labels": labels[i : i + 8]} for i in range(0, n, 8)]

    def train_dataloader(self):
        return DataLoader(self._batches(64, 0), batch_size=None)

    def test_dataloader(self):
        return DataLoader(self._batches(16, 1), batch_size=None)


class AnswerFineTuner(FineTuner):
    """Overrides the objective and the evaluation (the hooks the README names), nothing else."""

    def compute_loss(self, batch):
        self.calls.add("compute_loss")
        logits = self.model(input_ids=batch["input_ids"]).logits[:, :-1]
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"][:, 1:].flatten())

    def start_evaluation(self):
        self.calls.add("start_evaluation")
        self.correct, self.total = 0, 0

    def evaluate_batch(self, batch, dataloader_idx):
        self.calls.add("evaluate_batch")
        predicted = self.model(input_ids=batch["input_ids"]).logits[:, :-1].argmax(-1)
        scored = batch["labels"][:, 1:] != -100
        self.correct += int((predicted == batch["labels"][:, 1:])[scored].sum())
        self.total += int(scored.sum())

    def summarise_evaluation(self):
        self.calls.add("summarise_evaluation")
        self.log("test/answer_accuracy", self.correct / self.total)


def test_a_subclass_trains_and_evaluates_a_new_task(tmp_path):
    torch.manual_seed(0)
    module = AnswerFineTuner(
        DenseLoRA(r=8, dropout=0.0),
        model_config=TINY_MODEL,
        learning_rate=1e-2,
        warmup_steps=0,
    )
    module.calls = set()
    trainer = L.Trainer(
        max_epochs=6, accelerator="cpu", logger=False, enable_progress_bar=False, default_root_dir=tmp_path
    )
    trainer.fit(module, datamodule=AnswerTask())
    (metrics,) = trainer.test(module, datamodule=AnswerTask())
    assert module.calls == {"compute_loss", "start_evaluation", "evaluate_batch", "summarise_evaluation"}
    assert metrics["test/answer_accuracy"] > 0.9  # a random base says 7 about 1 time in 550
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()


def test_the_default_evaluation_names_what_the_data_module_lacks(tmp_path):
    module = FineTuner(DenseLoRA(r=4), model_config=TINY_MODEL)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"'eval_sets'.*denselora\.data\.protocol\.EvaluationData.*AnswerTask"):
        trainer.test(module, datamodule=AnswerTask())
