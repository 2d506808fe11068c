"""Answer rules: how a model's response is turned into a prediction and compared with the gold answer.

These follow the LLM-Adapters evaluation scripts that the DenseLoRA authors used: ``extract_answer`` in
``commonsense_evaluate.py`` and ``extract_answer_number``, ``extract_answer_letter`` and the tolerance
``miss = 0.001`` in ``evaluate.py`` (https://github.com/AGI-Edgerunners/LLM-Adapters; the same functions are
in the authors' ``commonsense_reasoning/`` of https://github.com/mulin-ahu/DenseLoRA). Their quirks are kept:
matching is case-sensitive and has no word boundaries, so ``"untrue"`` predicts ``true`` and
``"Answer: (B)"`` predicts ``A`` (the ``A`` of ``Answer``). Reproducing the paper's numbers needs exactly
that.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AnswerRule", "LabelRule", "LetterRule", "NumberRule"]

Prediction = str | float | None

# The number pattern of LLM-Adapters' ``extract_answer_number``: optional minus, digits, optional point and
# decimals. ``"4."`` is a number (``4.0``), ``"1.5.2"`` reads as ``1.5`` and ``2``.
_NUMBER = re.compile(r"-?\d+\.?\d*")


class AnswerRule:
    """Base class of an answer rule.

    Subclasses implement :meth:`extract` (response text -> prediction, ``None`` when nothing is found, which
    always scores as wrong), :meth:`parse_gold` (a record's ``answer`` -> comparable gold value, raising
    ``ValueError`` for an answer the rule cannot use) and :meth:`matches`.
    """

    name: str = "rule"

    def extract(self, response: str) -> Prediction:
        raise NotImplementedError

    def parse_gold(self, answer: Any) -> Any:
        raise NotImplementedError

    def matches(self, prediction: Prediction, gold: Any) -> bool:
        return prediction is not None and prediction == gold

    def accepts_gold(self, answer: Any) -> bool:
        """Whether ``answer`` is a valid gold answer for this rule (used to infer a new dataset's rule)."""
        try:
            self.parse_gold(answer)
        except ValueError:
            return False
        return True


@dataclass(frozen=True)
class LabelRule(AnswerRule):
    """Commonsense rule: the first occurrence of any label of the vocabulary anywhere in the response.

    Args:
        labels: the label vocabulary in the order of the reference regex alternation, e.g.
            ``("true", "false")``; a prediction is the label whose match starts first.
        name: a short name for reports.
    """

    labels: tuple[str, ...]
    name: str = "label"
    _pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.labels:
            raise ValueError("a LabelRule needs at least one label")
        pattern = re.compile("|".join(re.escape(label) for label in self.labels))
        object.__setattr__(self, "_pattern", pattern)

    def extract(self, response: str) -> str | None:
        found = self._pattern.search(response.strip())
        return found.group(0) if found else None

    def parse_gold(self, answer: Any) -> str:
        if not isinstance(answer, str) or answer not in self.labels:
            raise ValueError(f"expected one of {'/'.join(self.labels)}, got {answer!r}")
        return answer


@dataclass(frozen=True)
class NumberRule(AnswerRule):
    """Math rule: drop commas, take the last number; correct if within ``tolerance`` of the gold number.

    Args:
        tolerance: absolute tolerance, 0.001 in LLM-Adapters.
        name: a short name for reports.
    """

    tolerance: float = 0.001
    name: str = "number"

    def extract(self, response: str) -> float | None:
        numbers = _NUMBER.findall(response.replace(",", ""))
        return float(numbers[-1]) if numbers else None

    def parse_gold(self, answer: Any) -> float:
        # bool is an int subclass; a true/false answer is not a number.
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
            raise ValueError(f"expected a number, got {answer!r}")
        try:
            value = float(answer)
        except ValueError:
            raise ValueError(f"expected a number, got {answer!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {answer!r}")
        return value

    def matches(self, prediction: Prediction, gold: Any) -> bool:
        return isinstance(prediction, float) and abs(prediction - gold) <= self.tolerance


@dataclass(frozen=True)
class LetterRule(AnswerRule):
    """AQuA rule: the first capital letter among ``letters`` anywhere in the response.

    Args:
        letters: the option letters, ``"ABCDE"`` for AQuA.
        name: a short name for reports.
    """

    letters: str = "ABCDE"
    name: str = "letter"
    _pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.compile("|".join(re.escape(letter) for letter in self.letters))
        object.__setattr__(self, "_pattern", pattern)

    def extract(self, response: str) -> str | None:
        found = self._pattern.search(response.strip())
        return found.group(0) if found else None

    def parse_gold(self, answer: Any) -> str:
        if not isinstance(answer, str) or len(answer) != 1 or answer not in self.letters:
            raise ValueError(f"expected one letter of {self.letters}, got {answer!r}")
        return answer
