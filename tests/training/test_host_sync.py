"""A training step reads nothing back from the device: no ``.item()``, ``.tolist()``, ``.cpu()``, ``bool(tensor)``.

On a GPU each such call waits for every kernel queued so far, so the host stops queuing work ahead of the device.
On a CPU nothing waits, but the calls can be counted: every Python-level call of those methods made while
Lightning runs one training batch (the callbacks' hooks, forward, backward, the optimizer step, the writing of
the logs) is recorded with the function that made it. Reads inside C++ (a boolean mask's ``nonzero``) are not
seen.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pytest
import torch
from lightning.pytorch.loops.training_epoch_loop import _TrainingEpochLoop

from tests.training.cli_runs import run, tiny_run_args

#: The tensor methods that copy values to the host.
READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")

#: Reads of tensors that stay on the host on a GPU too, or that are not the training step's to avoid:
#: (module, function) -> why.
NOT_FROM_THE_DEVICE = {
    ("torch.utils.data.dataloader", "__init__"): "an epoch's data loader draws its seed on the CPU",
    ("denselora.data.resumable", "__iter__"): "the sampler's order is a CPU permutation",
    ("denselora.methods.denselora.dropout_masks", "draw_seed"): "the mask seed comes from the CPU generator",
    ("denselora.methods.denselora.dropout_masks", "_dropped_positions"): (
        "dropout masks as positions, the layout of a CPU only (an accelerator's dense masks read nothing)"
    ),
    ("denselora.methods.denselora.dropout_masks", "drop_masks"): "the same CPU-only layout",
    ("transformers.masking_utils", "_ignore_causal_mask_sdpa"): (
        "transformers reads whether the attention mask pads anything, to choose SDPA's causal kernel"
    ),
}


@dataclass
class Batch:
    """One training batch: the optimizer step before and after it, and the reads it made."""

    step_before: int
    step_after: int = -1
    reads: list[str] = field(default_factory=list)


class ReadCounter:
    """Records the reads made inside each training batch of the runs started while it is installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[Batch] = []
        self._current: Batch | None = None
        self._optimizers: list[torch.optim.Optimizer] = []
        for name in READS:
            monkeypatch.setattr(torch.Tensor, name, self._counting(name, getattr(torch.Tensor, name)))
        advance = _TrainingEpochLoop.advance

        def counted_advance(loop, data_fetcher):
            self._optimizers = loop.trainer.optimizers
            self._current = Batch(loop.trainer.global_step)
            try:
                advance(loop, data_fetcher)
            finally:
                self._current.step_after = loop.trainer.global_step
                self.batches.append(self._current)
                self._current = None

        monkeypatch.setattr(_TrainingEpochLoop, "advance", counted_advance)

    def _counting(self, name, method):
        def counted(tensor, *args, **kwargs):
            if self._current is not None and not self._is_optimizer_step_count(tensor):
                caller = sys._getframe(1)
                where = (caller.f_globals.get("__name__"), caller.f_code.co_name)
                if where not in NOT_FROM_THE_DEVICE:
                    self._current.reads.append(f"{name} in {where[0]}.{where[1]}")
            return method(tensor, *args, **kwargs)

        return counted

    def _is_optimizer_step_count(self, tensor: torch.Tensor) -> bool:
        # AdamW keeps each parameter's step count in a CPU tensor (on a GPU too, unless capturable or fused) and
        # reads it with .item(): no device sync.
        return any(tensor is state.get("step") for optimizer in self._optimizers for state in optimizer.state.values())


def test_a_training_step_reads_nothing_back_but_where_lightning_writes_the_logs(tmp_path, monkeypatch):
    # 9 optimizer steps of 2 micro-batches, the logs written after steps 4 and 8; the command line's callbacks
    # (best checkpoint, last.ckpt, learning-rate monitor, resume check), progress as plain lines (what a run shows
    # without a terminal), the fine-tuner's own callbacks (tokens/s, the divergence stop, the adapter export);
    # DenseLoRA's dropout and gradient clipping at 1.0 (quickstart.yaml's).
    counter = ReadCounter(monkeypatch)
    args = tiny_run_args(
        tmp_path,
        "--trainer.max_steps", "9",
        "--trainer.accumulate_grad_batches", "2",
        "--trainer.log_every_n_steps", "4",
        "--trainer.val_check_interval", "8",
        "--trainer.enable_progress_bar", "true",
        "--trainer.callbacks+", "denselora.callbacks.progress.LineProgress",
    )  # fmt: skip
    run(args)
    batches = counter.batches
    assert len(batches) == 18 and batches[-1].step_after == 9

    reading = {batch.step_after: batch.reads for batch in batches if batch.reads}
    # Lightning reads the logged values when it writes them (steps 4 and 8): the loss, the gradient norm, the
    # tokens/s, the learning rate. The divergence stop reads its flag there and at the step before each, whose
    # end comes before the learning-rate monitor writes. The last step's progress line reads what it shows.
    assert set(reading) <= {3, 4, 7, 8, 9}, reading
    for step in (3, 7):
        assert reading[step] == ["tolist in denselora.training.divergence_stop._read"]
    for step in (4, 8):
        assert "tolist in denselora.training.divergence_stop._read" in reading[step]
        assert {read.split(" in ")[1] for read in reading[step]} <= {
            "denselora.training.divergence_stop._read",
            "lightning.fabric.utilities.apply_func.to_item",  # Lightning writing the logs
        }, reading[step]
    # No micro-batch inside an accumulation window reads anything.
    assert not [batch.reads for batch in batches if batch.step_after == batch.step_before and batch.reads]


def test_the_logged_values_are_there_when_the_logs_are_written(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = tiny_run_args(tmp_path, "--trainer.max_steps", "8", "--trainer.log_every_n_steps", "4")
    run(args)
    (run_dir,) = sorted((tmp_path / "runs" / "quickstart").glob("version_*"))
    events = EventAccumulator(str(run_dir)).Reload()
    for tag in ("train/loss", "train/grad_norm", "train/tokens_per_sec", "lr-AdamW"):
        assert [event.step for event in events.Scalars(tag)] == [3, 7], tag  # Lightning counts from 0
    assert all(event.value > 0 for event in events.Scalars("train/tokens_per_sec"))
    assert all(event.value > 0 for event in events.Scalars("train/grad_norm"))
