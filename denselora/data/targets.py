"""What a training record teaches: its own output (the paper's), or the text of the right option.

LLM-Adapters' commonsense records answer with a label: "the correct answer is answer3". Learning that asks a
model to bind the symbol ``answer3`` to the third option's content; a small model learns the format and then
picks a label at chance (README, "A real pretrained model on a CPU"). With the ``option_text`` target, a
multiple-choice or true/false record instead asks its question without the listed options and answers with the
right option's text (``true``/``false`` as they are), which is exactly the prompt and continuation that scoring
by likelihood compares (:meth:`denselora.data.EvalSet.likelihood_prompts`).
"""

from __future__ import annotations

from typing import Any, Literal

import datasets
from lightning.pytorch.utilities import rank_zero_info

from denselora.errors import DataError
from denselora.tasks.choices import OptionsError, parse_choices

__all__ = ["TRAIN_TARGETS", "OptionTextTarget", "apply_train_target"]

TrainTarget = Literal["output", "option_text"]
#: ``output``: each record's own output (the paper's); ``option_text``: the right option's text.
TRAIN_TARGETS = ("output", "option_text")


class OptionTextTarget:
    """Batched ``datasets.map`` function: a multiple-choice or true/false record becomes its question (the
    instruction without the listed options) answered by the right option's text; any other record is kept.

    A class, not a closure, so that ``datasets`` fingerprints it and reuses its cache.
    """

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        instructions, outputs = list(batch["instruction"]), list(batch["output"])
        answers = batch.get("answer", [None] * len(instructions))
        rewritten = []
        for row, (instruction, answer) in enumerate(zip(instructions, answers, strict=True)):
            if answer is None:
                rewritten.append(False)
                continue
            try:
                item = parse_choices(instruction, answer)
            except OptionsError:
                rewritten.append(False)
                continue
            instructions[row], outputs[row] = item.instruction, item.gold_text
            rewritten.append(True)
        return {"instruction": instructions, "output": outputs, "option_text": rewritten}


def apply_train_target(records: datasets.Dataset, target: str, source: str) -> datasets.Dataset:
    """The training records with ``target`` applied (``output`` leaves them as they are).

    Args:
        records: the training records (``instruction``, ``input``, ``output``, and ``answer`` for the option-text
            target to know the right option).
        target: one of :data:`TRAIN_TARGETS`.
        source: the training file(s), for messages.

    Raises:
        DataError: ``option_text`` and no record is a multiple-choice or true/false record with an ``answer``.
    """
    if target == "output":
        return records
    if "answer" not in records.column_names:
        raise DataError(
            f"{source}: train_target option_text needs each record's gold 'answer' label (answer3, true) to know the "
            "right option, and the records have no 'answer' field; add it, or set data.init_args.train_target output"
        )
    mapped = records.map(OptionTextTarget(), batched=True, desc="Option-text targets")
    rewritten = sum(mapped["option_text"])
    if rewritten == 0:
        raise DataError(
            f"{source}: train_target option_text found no multiple-choice or true/false record (an LLM-Adapters "
            "instruction that lists its options and ends with 'Answer format: ...'); set data.init_args.train_target "
            "output for these records"
        )
    kept = len(mapped) - rewritten
    rank_zero_info(
        f"training target: {rewritten} of {len(mapped)} records answer with the right option's text"
        + (f"; {kept} that list no options keep their own output" if kept else "")
    )
    return mapped.remove_columns("option_text")
