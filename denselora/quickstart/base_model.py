"""The quickstart's base model: a tiny LLaMA that knows the prompt format but not the answers.

A randomly initialised model is a poor stand-in for a pretrained LLM: a frozen random network gives an adapter
almost nothing to steer. So the quickstart builds its own small "pretrained" base, offline, on first use: a
2-layer LLaMA trained on the synthetic question types with their answers drawn at random. It learns the
template and the vocabulary (as a real LLM knows its language) and answers at chance; fine-tuning with an
adapter on the real answers is then what makes it right. The model is cached, so later runs load it.
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from denselora.data.collate import PaddingCollator
from denselora.data.tokenization import TrainingTokenizer
from denselora.models.cache import build_once, cache_root
from denselora.models.source import BaseModelSource, meta_model_from_config
from denselora.models.tokenizer import TINY_TOKENIZER, load_tokenizer
from denselora.quickstart.synthetic import make_boolq_example, make_choice_example, make_math_example
from denselora.step_progress import StepProgress

__all__ = [
    "QUICKSTART_BASE",
    "QUICKSTART_BASE_CONFIG",
    "QuickstartBase",
    "ensure_quickstart_base",
    "load_quickstart_base",
    "quickstart_base_corpus",
]

#: The ``model.pretrained`` value that selects this base.
QUICKSTART_BASE = "denselora/quickstart-base"

QUICKSTART_BASE_CONFIG = {
    "model_type": "llama",
    "hidden_size": 128,
    "intermediate_size": 344,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}
# Warm-up and a moderate rate: at 3e-3 from the first step, training could collapse to one fixed answer on
# some CPUs (floating-point order differs between machines), leaving a base that knows no facts.
_RECIPE = {
    "records": 3000,
    "seed": 1,
    "batch_size": 16,
    "learning_rate": 1e-3,
    "warmup_steps": 30,
    "epochs": 2,
    "cutoff_len": 128,
    "version": 3,
}


def quickstart_base_corpus(size: int, seed: int) -> list[dict[str, str]]:
    """Synthetic records in the quickstart's formats, each with an answer drawn at random."""
    rng = random.Random(seed)
    makers = (make_boolq_example, make_choice_example, make_math_example)
    records = []
    for i in range(size):
        record = makers[i % len(makers)](rng)
        if record["answer"] in ("true", "false"):
            record["output"] = f"the correct answer is {rng.choice(['true', 'false'])}"
        elif record["answer"].startswith("answer"):
            record["output"] = f"the correct answer is answer{rng.randint(1, 4)}"
        else:  # keep the worked format, with a random result
            result = str(rng.randint(0, 18))
            record["output"] = re.sub(r"(= |answer is )\d+", r"\g<1>" + result, record["output"])
        records.append(record)
        records.append(_fact(rng))
    return records


def _fact(rng: random.Random) -> dict[str, str]:
    """A statement of what the tasks need (parity, sums, differences), phrased unlike any task."""
    a, b = rng.randint(0, 99), rng.randint(0, 9)
    kind = rng.randrange(3)
    if kind == 0:
        instruction, output = f"Tell me about the number {a}.", f"{a} is an {'even' if a % 2 == 0 else 'odd'} number."
    elif kind == 1:
        a = a % 10
        instruction, output = f"What is {a} plus {b}?", f"{a} + {b} = {a + b}"
    else:
        a = a % 10
        a, b = max(a, b), min(a, b)
        instruction, output = f"What is {a} minus {b}?", f"{a} - {b} = {a - b}"
    return {"instruction": instruction, "input": "", "output": output, "answer": ""}


def load_quickstart_base(dtype: torch.dtype | None = None, cache_dir: str | os.PathLike | None = None):
    """The quickstart base model, built now (once) or loaded from the cache."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(ensure_quickstart_base(cache_dir), dtype=dtype)


def ensure_quickstart_base(cache_dir: str | os.PathLike | None = None) -> Path:
    """The directory of the cached quickstart base, building it first if it is not there.

    Training uses its own seeded generator and leaves the global RNG as it found it, so a run's seed means
    the same thing whether the base was cached or not. Processes building it at once each build it and the
    first to finish wins (:func:`denselora.models.cache.build_once`); the models are identical.
    """
    directory = Path(cache_dir) if cache_dir else cache_root() / f"quickstart-base-v{_RECIPE['version']}"

    def write(folder: Path) -> None:
        with torch.random.fork_rng(devices=[]):
            model = _train_base()
        model.save_pretrained(folder)
        (folder / "recipe.json").write_text(json.dumps(_RECIPE, indent=2) + "\n")

    return build_once(directory, "config.json", write)


def _train_base():
    from lightning.pytorch.utilities import rank_zero_info
    from lightning.pytorch.utilities.rank_zero import rank_zero_only
    from torch.utils.data import DataLoader
    from transformers import AutoConfig, AutoModelForCausalLM

    rank_zero_info(f"building the quickstart base model in {cache_root()} (once; later runs load it) ...")
    torch.manual_seed(_RECIPE["seed"])
    tokenizer = load_tokenizer(TINY_TOKENIZER)
    records = quickstart_base_corpus(_RECIPE["records"], _RECIPE["seed"])
    columns = TrainingTokenizer(tokenizer, "alpaca", _RECIPE["cutoff_len"], train_on_inputs=True)(
        {key: [r[key] for r in records] for key in records[0]}
    )
    examples = [
        {"input_ids": ids, "labels": labels}
        for ids, labels in zip(columns["input_ids"], columns["labels"], strict=True)
    ]
    config = AutoConfig.for_model(**QUICKSTART_BASE_CONFIG, vocab_size=len(tokenizer))
    model = AutoModelForCausalLM.from_config(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=_RECIPE["learning_rate"])
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / _RECIPE["warmup_steps"]))
    loader = DataLoader(
        examples,
        batch_size=_RECIPE["batch_size"],
        shuffle=True,
        collate_fn=PaddingCollator(tokenizer.pad_token_id, padding_side="right"),
    )
    model.train()
    # A few minutes on a busy CPU: a bar (or, in a log file, lines) with the rate and the time left.
    steps = StepProgress(
        _RECIPE["epochs"] * len(loader), "building the quickstart base (once)", enabled=rank_zero_only.rank == 0
    )
    with steps:
        for _ in range(_RECIPE["epochs"]):
            for batch in loader:
                model(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                warmup.step()
                steps.update()
    return model.eval()


class QuickstartBase(BaseModelSource):
    """The cached quickstart base (``model.pretrained: denselora/quickstart-base``), built in :meth:`prepare`."""

    def prepare(self) -> None:
        ensure_quickstart_base()  # built once here (one process per node), then loaded by every rank

    def build(self, dtype: torch.dtype | None, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        return load_quickstart_base(dtype)

    def skeleton(self, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
        from transformers import AutoConfig

        return meta_model_from_config(AutoConfig.for_model(**QUICKSTART_BASE_CONFIG, vocab_size=len(tokenizer)))

    def tokenizer_spec(self) -> str:
        return TINY_TOKENIZER  # the base was trained on the built-in tokenizer's ids

    def describe(self) -> str:
        return QUICKSTART_BASE
