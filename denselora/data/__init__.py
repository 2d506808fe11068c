"""Reasoning data in the LLM-Adapters layout: data modules, prompts, tokenization, batching."""

from denselora.data.collate import PaddingCollator
from denselora.data.datamodule import CommonsenseDataModule, LLMAdaptersDataModule, MathDataModule
from denselora.data.eval_sets import EvalSet, eval_dataloader, load_eval_set, test_file_path
from denselora.data.prompts import TEMPLATES, format_prompt
from denselora.data.records import load_json_dataset
from denselora.data.samplers import LengthGroupedSampler, ShardedLengthSortedSampler, shard_indices
from denselora.data.tokenization import (
    IGNORE_INDEX,
    PromptTokenizer,
    TrainingTokenizer,
    tokenize_training_example,
)

__all__ = [
    "IGNORE_INDEX",
    "TEMPLATES",
    "CommonsenseDataModule",
    "EvalSet",
    "LLMAdaptersDataModule",
    "LengthGroupedSampler",
    "MathDataModule",
    "PaddingCollator",
    "PromptTokenizer",
    "ShardedLengthSortedSampler",
    "TrainingTokenizer",
    "eval_dataloader",
    "format_prompt",
    "load_eval_set",
    "load_json_dataset",
    "shard_indices",
    "test_file_path",
    "tokenize_training_example",
]
