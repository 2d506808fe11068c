"""Generated answers outside the test loop: validation's scored answers and ``predict``'s rows."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from denselora.data.eval_sets import PredictSet, ScoredPrompts
from denselora.evaluation.generation import generate_completions
from denselora.tasks import extract_response, score

__all__ = ["PREDICT_MAX_NEW_TOKENS", "prediction_rows", "validation_answers_correct"]

#: Generation budget of ``predict`` when ``max_new_tokens`` is not set (the math sets' budget).
PREDICT_MAX_NEW_TOKENS = 256


def validation_answers_correct(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    batch: dict[str, Tensor],
    prompts: ScoredPrompts,
    max_new_tokens: int | None = None,
) -> list[bool]:
    """Generate greedy answers for a batch of validation prompts and score each by its record's rule.

    Args:
        model: the causal LM.
        tokenizer: the tokenizer the prompts were encoded with.
        batch: ``{"input_ids", "attention_mask": LongTensor[batch, length] (left-padded), "index": LongTensor[batch]}``.
        prompts: the validation prompts the batch's ``index`` points into.
        max_new_tokens: the generation budget (default: the largest of the batch's tasks' budgets).

    Returns:
        Whether each answer is correct, in batch order.
    """
    indices = batch["index"].tolist()
    completions = generate_completions(
        model,
        tokenizer,
        batch["input_ids"],
        batch["attention_mask"],
        max_new_tokens=max_new_tokens or max(prompts.tasks[i].max_new_tokens for i in indices),
        num_beams=1,  # greedy: validation is a progress signal, the beams are for test
    )
    return [
        score(prompts.tasks[index], completion, prompts.answers[index], prompt=prompts.prompts[index]).correct
        for index, completion in zip(indices, completions, strict=True)
    ]


def prediction_rows(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    batch: dict[str, Tensor],
    predict_set: PredictSet,
    max_new_tokens: int | None = None,
    num_beams: int = 4,
) -> list[dict[str, Any]]:
    """Answer a batch of ``predict_set``.

    Returns:
        One row per record: ``{"index", "instruction", "input", "completion", "response"}``, ``index`` being the
        record's position in the predict file.
    """
    completions = generate_completions(
        model,
        tokenizer,
        batch["input_ids"],
        batch["attention_mask"],
        max_new_tokens=max_new_tokens or PREDICT_MAX_NEW_TOKENS,
        num_beams=num_beams,
    )
    return [
        {
            "index": index,
            "instruction": predict_set.instructions[index],
            "input": predict_set.inputs[index],
            "completion": completion,
            # With its prompt, as scoring reads it: a completion that goes on to write a new prompt would
            # otherwise give that prompt's response, not the answer.
            "response": extract_response(predict_set.prompts[index] + completion),
        }
        for index, completion in zip(batch["index"].tolist(), completions, strict=True)
    ]
