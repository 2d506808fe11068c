"""The real pretrained model end to end: train DenseLoRA a few steps on real ARC-Easy records, then check that it
answers in the format, stops at its EOS, scores through the evaluator, and that the exported adapter reloaded
onto a fresh base gives the very same completions."""

import json
from types import SimpleNamespace

import pytest
import torch

from denselora import DenseLoRAConfig, apply_denselora, get_adapter_params, load_adapter, save_adapter
from denselora.data import load_eval_set
from denselora.data.collate import PaddingCollator
from denselora.data.eval_sets import eval_dataloader
from denselora.data.tokenization import TrainingTokenizer
from denselora.evaluation import evaluate, generate_completions
from denselora.models import GGUFModel
from tests.conftest import LLAMA_TARGETS

TRAIN_RECORDS = 16
STEPS = 12
LEARNING_RATE = 5e-3
EVAL_ITEMS = 8
MAX_NEW_TOKENS = 32


@pytest.fixture(scope="module")
def arc_training(real_model_spec, real_tokenizer, shared_data, datasets_cache, tmp_path_factory):
    """DenseLoRA (r=16) trained for a few steps on the answers of 16 real ARC-Easy training records."""
    records = json.loads(shared_data.path("dataset/ARC-Easy/train.json").read_text())[:TRAIN_RECORDS]
    columns = TrainingTokenizer(real_tokenizer, "alpaca", 256, train_on_inputs=False)(
        {key: [record[key] for record in records] for key in ("instruction", "input", "output")}
    )
    examples = [{"input_ids": i, "labels": l} for i, l in zip(columns["input_ids"], columns["labels"], strict=True)]
    collate = PaddingCollator(real_tokenizer.pad_token_id, padding_side="right")
    batches = [collate(examples[start : start + 8]) for start in range(0, TRAIN_RECORDS, 8)]

    torch.manual_seed(0)
    base = GGUFModel(real_model_spec).build(torch.float32, real_tokenizer)
    model = apply_denselora(base, DenseLoRAConfig(r=16, alpha=32, dropout=0.0, target_modules=LLAMA_TARGETS))
    optimizer = torch.optim.AdamW(get_adapter_params(model).values(), lr=LEARNING_RATE)
    model.train()
    losses = []
    for step in range(STEPS):
        loss = model(**batches[step % len(batches)]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    exported = save_adapter(model, tmp_path_factory.mktemp("arc-adapter"))
    test_set = load_eval_set(shared_data.root, "ARC-Easy", real_tokenizer, "alpaca", EVAL_ITEMS, datasets_cache)
    (batch,) = eval_dataloader(test_set, real_tokenizer.pad_token_id, EVAL_ITEMS)
    return SimpleNamespace(model=model, losses=losses, exported=exported, test_set=test_set, batch=batch)


def test_a_few_steps_on_real_records_lower_the_loss(arc_training):
    losses = arc_training.losses
    assert sum(losses[-2:]) < 0.5 * sum(losses[:2]), losses


def test_it_learns_to_stop_at_the_real_eos(arc_training, real_tokenizer):
    batch = arc_training.batch
    with torch.no_grad():
        sequences = arc_training.model.generate(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=False,
            pad_token_id=real_tokenizer.pad_token_id,
            eos_token_id=real_tokenizer.eos_token_id,
        )
    new = sequences[:, batch["input_ids"].shape[1] :]
    eos = real_tokenizer.eos_token_id
    assert new.shape[1] < MAX_NEW_TOKENS  # every row stopped before the budget
    for row in new.tolist():
        first_eos = row.index(eos)  # raises if this row never produced the EOS
        assert all(token == eos for token in row[first_eos:])  # after it, only padding (= EOS for this model)


def test_the_evaluator_reads_its_answers(arc_training, real_tokenizer, tmp_path):
    result = evaluate(
        arc_training.model, real_tokenizer, [arc_training.test_set], tmp_path,
        batch_size=EVAL_ITEMS, num_beams=1, max_new_tokens=MAX_NEW_TOKENS, print_fn=None,
    )  # fmt: skip
    (scored,) = result.datasets
    assert scored.scored == scored.answered == EVAL_ITEMS  # every answer in the format "answerN"
    rows = [json.loads(line) for line in (tmp_path / "predictions" / "ARC-Easy.jsonl").read_text().splitlines()]
    for row in rows:
        assert row["prediction"] in {"answer1", "answer2", "answer3", "answer4", "answer5"}
        assert real_tokenizer.eos_token not in row["completion"]  # special tokens are not part of the answer
        assert row["correct"] == (row["prediction"] == row["gold"])


def test_the_exported_adapter_on_a_fresh_base_gives_the_same_completions(arc_training, real_model_spec, real_tokenizer):
    fresh = load_adapter(GGUFModel(real_model_spec).build(torch.float32, real_tokenizer).eval(), arc_training.exported)
    batch = arc_training.batch
    args = (real_tokenizer, batch["input_ids"], batch["attention_mask"], MAX_NEW_TOKENS, 1)
    expected = generate_completions(arc_training.model, *args)
    assert generate_completions(fresh, *args) == expected
    assert all(text.strip() for text in expected)  # real answers, not empty strings
    with torch.no_grad():
        torch.testing.assert_close(
            fresh(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
            arc_training.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
            rtol=0,
            atol=0,
        )
