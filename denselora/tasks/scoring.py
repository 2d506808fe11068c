"""Scoring one model response against one gold answer, by the rules of LLM-Adapters' evaluation scripts.

See :mod:`denselora.tasks.rules` for the scripts and functions each rule follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from denselora.tasks.registry import TaskSpec, get_task

__all__ = ["RESPONSE_MARKER", "Score", "extract_response", "is_correct", "score"]

RESPONSE_MARKER = "### Response:"


def extract_response(text: str, segment: Literal["first", "last"] = "first") -> str:
    """The response part of a decoded prompt + completion: the text after ``### Response:``, stripped.

    Args:
        text: decoded text; if it has no marker, it is taken to be the response already.
        segment: when the marker occurs more than once (the model went on to write a new prompt),
            ``"first"`` keeps the text between the first and the second marker (LLM-Adapters' math script),
            ``"last"`` the text after the last one (the authors' commonsense script).

    Returns:
        The response text without surrounding whitespace.
    """
    parts = text.split(RESPONSE_MARKER)
    if len(parts) == 1:
        return text.strip()
    return (parts[1] if segment == "first" else parts[-1]).strip()


@dataclass(frozen=True)
class Score:
    """The outcome of scoring one item.

    Attributes:
        response: the response text that was scored.
        prediction: what the answer rule extracted (a label, a number or a letter), ``None`` if nothing.
        correct: whether the prediction matches the gold answer.
    """

    response: str
    prediction: str | float | None
    correct: bool


def score(dataset: str | TaskSpec, completion: str, answer: Any, *, prompt: str | None = None) -> Score:
    """Score a completion with the dataset's rule.

    Args:
        dataset: a registered dataset name (see :func:`denselora.tasks.known_tasks`) or a :class:`TaskSpec`.
        completion: the generated text; either the response alone, or the full decoded prompt + response.
        answer: the record's gold ``answer`` field (a label, a number or number string, or a letter).
        prompt: the prompt the completion continues. When given, the response is cut from
            ``prompt + completion`` exactly as the reference scripts cut it from the decoded sequence.

    Raises:
        UnknownTaskError: ``dataset`` is not registered.
        ValueError: ``answer`` is not a valid gold answer for the dataset's rule.
    """
    task = dataset if isinstance(dataset, TaskSpec) else get_task(dataset)
    gold = task.rule.parse_gold(answer)
    response = extract_response(completion if prompt is None else prompt + completion, task.response_segment)
    prediction = task.rule.extract(response)
    return Score(response, prediction, task.rule.matches(prediction, gold))


def is_correct(dataset: str | TaskSpec, completion: str, answer: Any, *, prompt: str | None = None) -> bool:
    """Whether ``completion`` answers correctly under the dataset's rule (LLM-Adapters' evaluation scripts).

    * commonsense: the first match of the label vocabulary in the response equals the gold label
      (boolq ``true|false``; piqa ``solution1|solution2``; social_i_qa, ARC-Challenge, ARC-Easy,
      openbookqa ``answer1..answer5``; hellaswag ``ending1..ending4``; winogrande ``option1|option2``);
      no match is wrong;
    * math (gsm8k, AddSub, SVAMP, MultiArith, SingleEq, mawps): commas dropped, the last number
      ``-?\\d+\\.?\\d*`` is within 0.001 of the gold number;
    * AQuA: the first of ``A..E`` in the response equals the gold letter.

    Args and errors as :func:`score`.
    """
    return score(dataset, completion, answer, prompt=prompt).correct
