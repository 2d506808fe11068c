"""Evaluation tasks: which answer rule and generation length each dataset uses, and scoring."""

from denselora.tasks.registry import (
    COMMONSENSE_DATASETS,
    MATH_DATASETS,
    TaskSpec,
    UnknownTaskError,
    get_task,
    infer_task,
    known_tasks,
    register_task,
    resolve_task,
)
from denselora.tasks.rules import AnswerRule, LabelRule, LetterRule, NumberRule
from denselora.tasks.scoring import RESPONSE_MARKER, Score, extract_response, is_correct, score

__all__ = [
    "COMMONSENSE_DATASETS",
    "MATH_DATASETS",
    "RESPONSE_MARKER",
    "AnswerRule",
    "LabelRule",
    "LetterRule",
    "NumberRule",
    "Score",
    "TaskSpec",
    "UnknownTaskError",
    "extract_response",
    "get_task",
    "infer_task",
    "is_correct",
    "known_tasks",
    "register_task",
    "resolve_task",
    "score",
]
