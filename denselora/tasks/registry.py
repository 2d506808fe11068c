"""The task registry: for each evaluation dataset, its answer rule, generation length and family.

Datasets are looked up by their folder name under ``dataset/`` in an LLM-Adapters tree. A dataset that is not
registered still works when it follows an existing rule family:

* name it ``"<folder>:<known task>"`` (for example ``"my_quiz:boolq"``) to score it like that task;
* or let :func:`infer_task` pick the family from its gold answers (all ``true``/``false`` -> the BoolQ rule,
  all numbers -> the math rule, ...), which the data modules do for unknown names;
* or register it from Python with :func:`register_task`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from denselora.errors import DataError
from denselora.tasks.rules import AnswerRule, LabelRule, LetterRule, NumberRule

__all__ = [
    "COMMONSENSE_DATASETS",
    "MATH_DATASETS",
    "TaskSpec",
    "UnknownTaskError",
    "get_task",
    "infer_task",
    "known_tasks",
    "register_task",
    "resolve_task",
]

Family = Literal["commonsense", "math"]

# Generation lengths of LLM-Adapters' scripts: commonsense_evaluate.py and evaluate.py (line 44 of each) in
# github.com/AGI-Edgerunners/LLM-Adapters. The DenseLoRA authors' own math script generates 128 instead
# (their evaluate.py, line 44); lightning_configs/math.yaml sets that with model.init_args.max_new_tokens.
COMMONSENSE_MAX_NEW_TOKENS = 32
MATH_MAX_NEW_TOKENS = 256


@dataclass(frozen=True)
class TaskSpec:
    """How one evaluation dataset is generated and scored.

    Attributes:
        name: the dataset name (its folder under ``dataset/``).
        family: ``"commonsense"`` or ``"math"``.
        rule: the answer rule that turns a response into a prediction and compares it with the gold answer.
        max_new_tokens: generation budget per item.
        response_segment: which text counts as the response when the decoded text contains the
            ``### Response:`` marker more than once (the model started a new prompt). ``"last"``: after the
            last marker, as the authors' commonsense script; ``"first"``: between the first and the second
            marker, as the math script.
    """

    name: str
    family: Family
    rule: AnswerRule
    max_new_tokens: int
    response_segment: Literal["first", "last"]


class UnknownTaskError(DataError):
    """A dataset name that is neither registered nor resolvable."""


BOOLQ = LabelRule(("true", "false"), name="true|false")
PIQA = LabelRule(("solution1", "solution2"), name="solution1|solution2")
MULTIPLE_CHOICE = LabelRule(tuple(f"answer{i}" for i in range(1, 6)), name="answer1..answer5")
HELLASWAG = LabelRule(tuple(f"ending{i}" for i in range(1, 5)), name="ending1..ending4")
WINOGRANDE = LabelRule(("option1", "option2"), name="option1|option2")
NUMBER = NumberRule(tolerance=0.001, name="last number, |pred-gold|<=0.001")
LETTER = LetterRule("ABCDE", name="first of A..E")

COMMONSENSE_DATASETS = (
    "boolq", "piqa", "social_i_qa", "hellaswag", "winogrande", "ARC-Challenge", "ARC-Easy", "openbookqa",
)  # fmt: skip
MATH_DATASETS = ("gsm8k", "AQuA", "AddSub", "SVAMP", "MultiArith", "SingleEq", "mawps")


def _commonsense(name: str, rule: AnswerRule) -> TaskSpec:
    return TaskSpec(name, "commonsense", rule, COMMONSENSE_MAX_NEW_TOKENS, "last")


def _math(name: str, rule: AnswerRule, max_new_tokens: int = MATH_MAX_NEW_TOKENS) -> TaskSpec:
    return TaskSpec(name, "math", rule, max_new_tokens, "first")


_BUILTIN = [
    _commonsense("boolq", BOOLQ),
    _commonsense("piqa", PIQA),
    _commonsense("social_i_qa", MULTIPLE_CHOICE),
    _commonsense("hellaswag", HELLASWAG),
    _commonsense("winogrande", WINOGRANDE),
    _commonsense("ARC-Challenge", MULTIPLE_CHOICE),
    _commonsense("ARC-Easy", MULTIPLE_CHOICE),
    _commonsense("openbookqa", MULTIPLE_CHOICE),
    *(_math(name, NUMBER) for name in ("gsm8k", "AddSub", "SVAMP", "MultiArith", "SingleEq", "mawps")),
    _math("AQuA", LETTER),
]

_REGISTRY: dict[str, TaskSpec] = {task.name: task for task in _BUILTIN}

# Families tried, in order, when a new dataset's rule is inferred from its gold answers. Their answer sets
# are disjoint, so at most one label family fits; numbers are tried before letters.
_INFERABLE = ("boolq", "piqa", "social_i_qa", "hellaswag", "winogrande", "gsm8k", "AQuA")


def known_tasks() -> list[str]:
    """Names of all registered datasets, sorted case-insensitively."""
    return sorted(_REGISTRY, key=str.lower)


def _help(name: str) -> str:
    return (
        f"Unknown evaluation dataset {name!r}. Known datasets: {', '.join(known_tasks())}. "
        f"To evaluate a new dataset that follows an existing rule, name it '<folder>:<known dataset>' "
        f"(e.g. '{name}:boolq' or '{name}:gsm8k'), or call "
        f"denselora.tasks.register_task({name!r}, like='boolq'); a data module also infers the rule from the "
        f"gold answers of dataset/{name}/test.json when they all fit one family."
    )


def get_task(name: str) -> TaskSpec:
    """The registered task for a dataset name (exact, else case-insensitive match, as ``aqua`` -> ``AQuA``).

    Raises:
        UnknownTaskError: the name is not registered; the message lists the known names and how to add one.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    folded = {key.lower(): task for key, task in _REGISTRY.items()}
    if name.lower() in folded:
        return folded[name.lower()]
    raise UnknownTaskError(_help(name))


def register_task(
    name: str,
    *,
    like: str | None = None,
    rule: AnswerRule | None = None,
    family: Family | None = None,
    max_new_tokens: int | None = None,
    overwrite: bool = False,
) -> TaskSpec:
    """Register a dataset, either scored like a known one (``like``) or with an explicit rule.

    Args:
        name: dataset name (folder under ``dataset/``).
        like: a registered dataset whose rule, family and generation length are copied.
        rule: an explicit answer rule (needs ``family`` when ``like`` is not given).
        family: ``"commonsense"`` or ``"math"``; decides the default generation length and response segment.
        max_new_tokens: overrides the generation length.
        overwrite: allow replacing an existing registration.

    Returns:
        The registered :class:`TaskSpec`.
    """
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"dataset {name!r} is already registered; pass overwrite=True to replace it")
    if like is not None:
        base = get_task(like)
        task = TaskSpec(
            name,
            family or base.family,
            rule or base.rule,
            max_new_tokens or base.max_new_tokens,
            base.response_segment,
        )
    elif rule is not None and family is not None:
        task = (_commonsense if family == "commonsense" else _math)(name, rule)
        if max_new_tokens is not None:
            task = TaskSpec(name, task.family, rule, max_new_tokens, task.response_segment)
    else:
        raise ValueError("register_task needs `like=<known dataset>`, or both `rule` and `family`")
    _REGISTRY[name] = task
    return task


def infer_task(name: str, answers: Iterable[Any]) -> TaskSpec:
    """Infer a new dataset's task from its gold answers: the first rule family that accepts all of them.

    Raises:
        UnknownTaskError: no family accepts every answer (or there are none).
    """
    answers = list(answers)
    if answers:
        for candidate in _INFERABLE:
            base = _REGISTRY[candidate]
            if all(base.rule.accepts_gold(answer) for answer in answers):
                return TaskSpec(name, base.family, base.rule, base.max_new_tokens, base.response_segment)
    examples = ", ".join(repr(answer) for answer in answers[:3])
    raise UnknownTaskError(_help(name) + f" Its answers ({examples}, ...) fit no known rule family.")


def resolve_task(entry: str, answers: Iterable[Any] | None = None) -> tuple[str, TaskSpec]:
    """Resolve an ``eval_datasets`` entry to ``(folder name, task)``.

    Args:
        entry: ``"<name>"`` for a registered dataset, or ``"<name>:<known dataset>"`` to score a folder like a
            known dataset.
        answers: the dataset's gold answers, used to infer the rule of an unregistered name.

    Raises:
        UnknownTaskError: the name is unknown and its rule cannot be inferred.
    """
    if ":" in entry:
        name, like = (part.strip() for part in entry.split(":", 1))
        base = get_task(like)
        return name, TaskSpec(name, base.family, base.rule, base.max_new_tokens, base.response_segment)
    try:
        return entry, get_task(entry)
    except UnknownTaskError:
        if answers is None:
            raise
    return entry, infer_task(entry, answers)
