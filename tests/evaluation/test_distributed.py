"""Two real processes (gloo, CPU): every item is scored once and the result equals one process's."""

from __future__ import annotations

import json
import os
import socket

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp

from denselora.data import LLMAdaptersDataModule
from denselora.evaluation import evaluate
from denselora.models import load_tokenizer
from tests.evaluation.conftest import build_model

DATASETS = ["synth_boolq", "synth_math"]
LIMIT = 7  # odd, so the ranks get different numbers of items


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(rank: int, world_size: int, port: int, data_dir: str, cache: str, output_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        tokenizer = load_tokenizer("denselora/tiny")
        dm = LLMAdaptersDataModule(data_dir, eval_datasets=DATASETS, eval_limit=LIMIT, cache_dir=cache)
        dm.setup("test")
        result = evaluate(build_model(tokenizer), tokenizer, dm.eval_sets, output_dir, batch_size=2,
                          num_beams=1, max_new_tokens=6, print_fn=None)  # fmt: skip
        assert result.world_size == world_size
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_score_each_item_once(quickstart_root, datasets_cache, tmp_path, tiny_tokenizer):
    mp.spawn(
        _run,
        args=(2, _free_port(), str(quickstart_root), datasets_cache, str(tmp_path / "ddp")),
        nprocs=2,
        join=True,
    )
    dm = LLMAdaptersDataModule(str(quickstart_root), eval_datasets=DATASETS, eval_limit=LIMIT, cache_dir=datasets_cache)
    dm.setup("test")
    evaluate(build_model(tiny_tokenizer), tiny_tokenizer, dm.eval_sets, tmp_path / "single", batch_size=2,
             num_beams=1, max_new_tokens=6, print_fn=None)  # fmt: skip

    ddp = json.loads((tmp_path / "ddp" / "results.json").read_text())
    single = json.loads((tmp_path / "single" / "results.json").read_text())
    assert ddp["world_size"] == 2
    for name in DATASETS:
        assert ddp["datasets"][name]["scored"] == LIMIT
        assert ddp["datasets"][name]["accuracy"] == single["datasets"][name]["accuracy"]
        ddp_lines = (tmp_path / "ddp" / "predictions" / f"{name}.jsonl").read_text().splitlines()
        assert ddp_lines == (tmp_path / "single" / "predictions" / f"{name}.jsonl").read_text().splitlines()
    assert not list((tmp_path / "ddp" / "predictions").glob("*.partial.jsonl"))
