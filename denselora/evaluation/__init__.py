"""Evaluation: generation (batched beam search) or likelihood scoring, accuracy tables and prediction files."""

from denselora.evaluation.evaluator import Evaluator, check_scoring, evaluate
from denselora.evaluation.generation import generate_completions, input_device
from denselora.evaluation.results import DatasetResult, EvaluationResult, ItemResult

__all__ = [
    "DatasetResult",
    "EvaluationResult",
    "Evaluator",
    "ItemResult",
    "check_scoring",
    "evaluate",
    "generate_completions",
    "input_device",
]
