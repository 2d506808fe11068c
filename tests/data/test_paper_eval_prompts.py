"""The paper configs test with the prompts the authors' evaluation scripts built, byte for byte.

The data module is built from the shipped YAML (only the data folder, the tokenizer and the number of items are
replaced, none of which changes a prompt's text) and its test-time prompts for real LLM-Adapters records are
compared with the authors' ``generate_prompt``, written out below from their release
(https://github.com/mulin-ahu/DenseLoRA, ``commonsense_reasoning/``), independently of
:mod:`denselora.data.prompts`.
"""

from __future__ import annotations

import importlib
import json

import pytest
import yaml

from tests.data.conftest import SHARED_COMMONSENSE
from tests.training.cli_runs import REPO

CONFIGS = REPO / "lightning_configs"
LIMIT = 5  # records per test set


def authors_eval_prompt(instruction: str) -> str:
    """The authors' ``generate_prompt(instruction, input=None)``.

    ``commonsense_evaluate.py`` lines 177-183 and ``evaluate.py`` lines 161-167 hold the same literal. Neither
    script passes an input: ``commonsense_evaluate.py`` calls ``evaluate(instructions)`` (line 129), which
    calls ``generate_prompt(instruction, input)`` with ``input=None`` (line 54); ``evaluate.py`` calls
    ``evaluate(instruction)`` (line 100), likewise (line 47). The literal is a triple-quoted f-string inside a
    function, so every line after the blank one carries the function's 16 spaces of indentation, the first line
    ends in one space after ``request.``, and the two blank lines are empty.
    """
    indent = " " * 16
    lines = [
        "Below is an instruction that describes a task. Write a response that appropriately completes the request. ",
        "",
        indent + "### Instruction:",
        indent + instruction,
        "",
        indent + "### Response:",
        indent,  # the closing quotes sit on this line, after the indentation
    ]
    return "\n".join(lines)


def _data_module(config: str, data_dir, cache_dir, tokenizer: str, eval_datasets: list[str] | None = None):
    data = yaml.safe_load((CONFIGS / config).read_text())["data"]
    module_name, class_name = data["class_path"].rsplit(".", 1)
    init_args = dict(data["init_args"])
    init_args.update(data_dir=str(data_dir), tokenizer=tokenizer, eval_limit=LIMIT, cache_dir=cache_dir, num_workers=0)
    if eval_datasets is not None:
        init_args["eval_datasets"] = eval_datasets
    return getattr(importlib.import_module(module_name), class_name)(**init_args)


# commonsense.yaml names hellaswag too, whose test set the shared folder does not hold; math.yaml's four are all
# there.
@pytest.mark.parametrize("config, eval_datasets", [("commonsense.yaml", list(SHARED_COMMONSENSE)), ("math.yaml", None)])
def test_paper_configs_test_with_the_authors_evaluation_prompts(
    shared_data, datasets_cache, tiny_tokenizer, config, eval_datasets
):
    module = _data_module(config, shared_data.root, datasets_cache, "denselora/tiny", eval_datasets)
    module.setup("test")
    assert [eval_set.name for eval_set in module.eval_sets] == (
        eval_datasets or yaml.safe_load((CONFIGS / config).read_text())["data"]["init_args"]["eval_datasets"]
    )
    for eval_set in module.eval_sets:
        records = json.loads(shared_data.test_set(eval_set.name).read_text())[:LIMIT]
        expected = [authors_eval_prompt(record["instruction"]) for record in records]
        assert len(eval_set.prompts) == LIMIT
        for got, wanted in zip(eval_set.prompts, expected, strict=True):
            assert got.encode() == wanted.encode(), eval_set.name
        # What the model is fed: the prompt's token ids, as the authors' tokenizer(prompt) call gives them.
        assert list(eval_set.data["input_ids"]) == [tiny_tokenizer(prompt)["input_ids"] for prompt in expected]


def test_the_training_prompt_is_not_the_evaluation_prompt(shared_data, datasets_cache):
    # The configs train on the other string (the authors' finetune.py); this test would pass vacuously if
    # both were the same.
    module = _data_module("math.yaml", shared_data.root, datasets_cache, "denselora/tiny")
    assert module.template == "authors" and module.eval_template == "authors_eval"
    module.setup("test")
    instruction = module.eval_sets[0].instructions[0]
    from denselora.data import format_prompt

    assert format_prompt(module.template, instruction) != authors_eval_prompt(instruction)
