"""Generation-based evaluation: batched beam search, scoring, accuracy tables and prediction files."""

from denselora.evaluation.evaluator import Evaluator, evaluate
from denselora.evaluation.generation import generate_completions, input_device
from denselora.evaluation.results import DatasetResult, EvaluationResult, ItemResult

__all__ = [
    "DatasetResult",
    "EvaluationResult",
    "Evaluator",
    "ItemResult",
    "evaluate",
    "generate_completions",
    "input_device",
]
