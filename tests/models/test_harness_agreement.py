"""The project's likelihood scoring and lm-evaluation-harness, given the same prompts, pick the same options."""

from __future__ import annotations

import json

import pytest

from denselora.data import load_eval_set
from denselora.evaluation import evaluate

lm_eval = pytest.importorskip("lm_eval")

ITEMS = 80


def test_the_scorer_agrees_with_lm_eval_item_by_item(real_base, real_tokenizer, shared_data, datasets_cache, tmp_path):
    from lm_eval.tasks import TaskManager

    from denselora.evaluation.harness import write_llm_adapters_tasks
    from denselora.evaluation.harness.lm import DenseLoRALM
    from denselora.evaluation.harness.loading import LoadedModel
    from denselora.evaluation.harness.offline import offline

    # The harness's task for ARC-Easy with the project's prompt (the alpaca template, the option right after it).
    written = write_llm_adapters_tasks(shared_data.root, tmp_path, "alpaca")
    model = DenseLoRALM(loaded=LoadedModel(real_base, real_tokenizer, "base", None, "SmolLM2", None), device="cpu",
                        batch_size=16)  # fmt: skip
    with offline():
        harness = lm_eval.simple_evaluate(
            model=model,
            tasks=["llm_adapters_arc_easy"],
            task_manager=TaskManager(include_path=str(written.folder), include_defaults=False),
            limit=ITEMS,
            log_samples=True,
        )
    samples = sorted(harness["samples"]["llm_adapters_arc_easy"], key=lambda sample: sample["doc_id"])
    theirs = [[response[0] for response in sample["filtered_resps"]] for sample in samples]

    eval_set = load_eval_set(shared_data.root, "ARC-Easy", real_tokenizer, "alpaca", limit=ITEMS,
                             cache_dir=datasets_cache)  # fmt: skip
    ours = evaluate(real_base, real_tokenizer, [eval_set], tmp_path / "ours", batch_size=16, scoring="likelihood",
                    print_fn=None)  # fmt: skip
    rows = ours.datasets[0]
    assert len(theirs) == rows.scored == ITEMS
    predictions = [json.loads(line) for line in (tmp_path / "ours" / "predictions" / "ARC-Easy.jsonl").open()]
    same_choice = sum(
        row["choice"] == max(range(len(lls)), key=lls.__getitem__) for row, lls in zip(predictions, theirs, strict=True)
    )
    assert same_choice >= 0.99 * ITEMS
    for row, lls in zip(predictions, theirs, strict=True):
        # Float32 on both sides, batched differently (their prompt runs once per option, padded on the right).
        assert row["loglikelihoods"] == pytest.approx(lls, abs=2e-3)
    metrics = harness["results"]["llm_adapters_arc_easy"]
    assert abs(rows.likelihood.acc - metrics["acc,none"]) <= 0.005
    assert abs(rows.likelihood.acc_norm - metrics["acc_norm,none"]) <= 0.005
