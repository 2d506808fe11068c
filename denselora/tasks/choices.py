"""The options of a multiple-choice or true/false record, read from its LLM-Adapters instruction.

LLM-Adapters writes every commonsense item as one instruction that lists the options and asks for a label
(``dataset/<name>/test.json`` and ``ft-training_set/commonsense_170k.json`` in
https://github.com/AGI-Edgerunners/LLM-Adapters)::

    boolq       Please answer the following question with true or false, question: {q}\\n\\nAnswer format: true/false
    piqa        Please choose the correct solution to the question: {goal}\\n\\nSolution1: {a}\\n\\nSolution2: {b}
                \\n\\nAnswer format: solution1/solution2
    social_i_qa, ARC-Easy, ARC-Challenge, openbookqa
                Please choose the correct answer to the question: {q}\\n\\nAnswer1: {a} Answer2: {b} ...
                \\n\\nAnswer format: answer1/answer2/...
    hellaswag   Please choose the correct ending to complete the given sentence: {ctx}\\n\\nEnding1: {a} Ending2: {b}
                ...\\n\\nAnswer format: ending1/ending2/ending3/ending4
    winogrande  Please choose the correct answer to fill in the blank to complete the given sentence: {s}\\n\\n
                Option1: {a} Option2: {b} Answer format: option1/option2

:func:`parse_choices` turns such an instruction into a :class:`MultipleChoice`: the lead-in and question
without the listed options and the answer-format line (:attr:`MultipleChoice.instruction`), the options' texts,
and the index of the gold label. A record of one's own can carry ``choices`` (a list of strings) and ``gold`` (an
index into it) instead, and its instruction is then used as it is (:func:`choices_from_fields`).

Scoring by likelihood (:mod:`denselora.evaluation.likelihood`) renders :attr:`MultipleChoice.instruction` with
the evaluation template and compares the options as its continuations; the ``option_text`` training target
(:mod:`denselora.data.targets`) trains on the same prompt with the right option's text as the response.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["LABEL_FAMILIES", "MultipleChoice", "OptionsError", "choices_from_fields", "parse_choices"]

#: Label prefix -> how the instruction names its options (``answer3`` is listed as ``Answer3: ...``).
LABEL_FAMILIES = {"answer": "Answer", "solution": "Solution", "ending": "Ending", "option": "Option"}
_TRUE_FALSE = ("true", "false")
_FORMAT_LINE = re.compile(r"\s*Answer format:\s*(?P<labels>[A-Za-z0-9/ ]+?)\s*$")
_LABEL = re.compile(r"^(?P<family>[a-z]+)(?P<number>[1-9])$")
# Every LLM-Adapters lead-in is one sentence that ends in ": " before the question ("Please choose the correct
# answer to the question: ", "Please answer the following question with true or false, question: ").
_LEAD_IN = re.compile(r"^Please [^:\n]*:\s*")


class OptionsError(ValueError):
    """An instruction (or a record's ``choices``/``gold``) from which no options can be read."""


@dataclass(frozen=True)
class MultipleChoice:
    """One item as a choice between option texts.

    Attributes:
        instruction: what the item asks, without the listed options and the answer-format line: the record's
            lead-in and question (``"Please choose the correct answer to the question: Which ...?"``), or for a
            record that carries ``choices`` its own instruction.
        choices: the options' texts, in label order (``("true", "false")`` for a true/false item).
        gold: the index of the right option, or ``None`` when the record has no answer.
        labels: the label of each option as the paper's format writes it (``answer1``, ``true``), or the
            option texts themselves for a record that carries ``choices``.
    """

    instruction: str
    choices: tuple[str, ...]
    gold: int | None
    labels: tuple[str, ...]

    @property
    def question(self) -> str:
        """:attr:`instruction` without the LLM-Adapters lead-in: the bare question, context or sentence."""
        return _LEAD_IN.sub("", self.instruction, count=1)

    @property
    def gold_text(self) -> str | None:
        """The right option's text (``None`` when the record has no answer)."""
        return None if self.gold is None else self.choices[self.gold]


def _format_labels(instruction: str) -> tuple[str, list[str]]:
    """The instruction without its last ``Answer format: a/b/c`` line, and the labels that line lists."""
    position = instruction.rfind("Answer format:")
    if position < 0:
        raise OptionsError("it has no 'Answer format: ...' line listing the labels")
    found = _FORMAT_LINE.match(instruction, position)
    if found is None:
        raise OptionsError("its 'Answer format:' line is not a list of labels such as answer1/answer2")
    labels = [label.strip() for label in found.group("labels").split("/") if label.strip()]
    return instruction[:position].rstrip(), labels


def parse_choices(instruction: str, answer: Any = None) -> MultipleChoice:
    """Read the options of an LLM-Adapters commonsense instruction.

    Args:
        instruction: the record's ``instruction`` (see the module docstring for the formats).
        answer: the record's gold ``answer`` label (``answer3``, ``true``); ``None`` when it has none.

    Returns:
        The item as a :class:`MultipleChoice`.

    Raises:
        OptionsError: the instruction lists no options in a known format, or ``answer`` is not one of its labels;
            the message says what was expected.
    """
    body, labels = _format_labels(instruction)
    if tuple(labels) == _TRUE_FALSE:
        choices: tuple[str, ...] = _TRUE_FALSE
        question = body
    else:
        matches = [_LABEL.match(label) for label in labels]
        families = {m.group("family") for m in matches if m}
        if not all(matches) or len(families) != 1 or next(iter(families)) not in LABEL_FAMILIES:
            raise OptionsError(
                f"its answer format {'/'.join(labels)!r} is neither true/false nor numbered labels of one of "
                f"{', '.join(f'{family}N' for family in LABEL_FAMILIES)}"
            )
        family = next(iter(families))
        expected = [f"{family}{n}" for n in range(1, len(labels) + 1)]
        if labels != expected or len(labels) < 2:
            raise OptionsError(f"its answer format {'/'.join(labels)!r} is not {'/'.join(expected)}")
        marker = LABEL_FAMILIES[family]
        # Each "<Marker>N: " is looked for after the one before it, so an option text that names another
        # option ("Answer2: ... unlike Answer1") does not cut the list short.
        starts: list[tuple[int, int]] = []
        cursor = 0
        for number in range(1, len(labels) + 1):
            found = re.compile(rf"(?:^|\s){marker}{number}:\s?").search(body, cursor)
            if found is None:
                raise OptionsError(f"it lists no '{marker}{number}:' option although its answer format names {number}")
            starts.append((found.start(), found.end()))
            cursor = found.end()
        question = body[: starts[0][0]].rstrip()
        ends = [start for start, _ in starts[1:]] + [len(body)]
        choices = tuple(body[end_of_marker:end].strip() for (_, end_of_marker), end in zip(starts, ends, strict=True))
        if not question or any(not choice for choice in choices):
            raise OptionsError("it has an empty question or an empty option")
    gold = None
    if answer is not None:
        label = str(answer).strip()
        if label not in labels:
            raise OptionsError(f"its answer {answer!r} is not one of its labels {'/'.join(labels)}")
        gold = labels.index(label)
    return MultipleChoice(question.strip(), choices, gold, tuple(labels))


def choices_from_fields(instruction: str, choices: Any, gold: Any) -> MultipleChoice:
    """A record of one's own that lists its options: ``choices`` (strings) and ``gold`` (an index into them).

    Raises:
        OptionsError: ``choices`` is not a list of at least two non-empty strings, or ``gold`` is not an index
            into it.
    """
    if (
        not isinstance(choices, Sequence)
        or isinstance(choices, str)
        or len(choices) < 2
        or not all(isinstance(choice, str) and choice.strip() for choice in choices)
    ):
        raise OptionsError(f"'choices' must be a list of at least two non-empty strings, got {choices!r}")
    if gold is None:
        raise OptionsError("it has 'choices' but no 'gold': give the index of the right option (0 for the first)")
    if isinstance(gold, bool) or not isinstance(gold, int) or not 0 <= gold < len(choices):
        raise OptionsError(
            f"'gold' must be an index into its {len(choices)} choices (0 to {len(choices) - 1}), got {gold!r}"
        )
    texts = tuple(choices)
    return MultipleChoice(instruction.strip(), texts, gold, texts)
