"""A small synthetic reasoning data set in the LLM-Adapters layout, for quickstarts and tests.

Three test sets mirror the real task families, with the real sets' instruction and output phrasing:

* ``synth_boolq`` -- is a count (0 to 99) even? Output ``"the correct answer is true"`` (BoolQ rule);
* ``synth_choice`` -- which of four counts is the even one? Output ``"the correct answer is answer3"``
  (ARC / OpenBookQA rule);
* ``synth_math`` -- one-step addition and subtraction word problems with single-digit operands, output
  ``"\\nA: ... The answer is 7."`` (math rule).

Everything is generated here from the word lists below and a seed; nothing is copied from a real data set.
The tasks are chosen to be learnable quickly, by a randomly initialised 2-layer LLaMA in minutes on a CPU;
the README's quickstart table gives what DenseLoRA reaches on them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "ITEMS",
    "NAMES",
    "QUICKSTART_EVAL_DATASETS",
    "QUICKSTART_TRAIN_FILE",
    "make_boolq_example",
    "make_choice_example",
    "make_math_example",
    "write_quickstart_data",
]

NAMES = ("Tom", "Anna", "Sam", "Lily", "Ben", "Maya", "Leo", "Nora", "Max", "Ella")
ITEMS = ("apples", "books", "coins", "pens", "cards", "shells", "stickers", "marbles")

QUICKSTART_EVAL_DATASETS = ("synth_boolq", "synth_choice", "synth_math")
QUICKSTART_TRAIN_FILE = "ft-training_set/synthetic_train.json"

Record = dict[str, str]


def _record(instruction: str, output: str, answer: str) -> Record:
    return {"instruction": instruction, "input": "", "output": output, "answer": answer}


def make_boolq_example(rng: random.Random) -> Record:
    """Is a count (0 to 99) even? True and false are equally likely."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    count = rng.randrange(0, 100)
    instruction = (
        f"Please answer the following question with true or false, question: {name} has {count} {item}. "
        f"Is {count} an even number?\n\nAnswer format: true/false"
    )
    answer = "true" if count % 2 == 0 else "false"
    return _record(instruction, f"the correct answer is {answer}", answer)


def make_choice_example(rng: random.Random) -> Record:
    """Four single-digit counts, exactly one of them even; which one?"""
    item = rng.choice(ITEMS)
    options = [*rng.sample([1, 3, 5, 7, 9], 3), rng.choice([0, 2, 4, 6, 8])]
    rng.shuffle(options)
    correct = next(i for i, count in enumerate(options, start=1) if count % 2 == 0)
    listed = " ".join(f"Answer{i}: {count} {item}" for i, count in enumerate(options, start=1))
    instruction = (
        f"Please choose the correct answer to the question: Which of these is an even number of {item}?"
        f"\n\n{listed}\n\nAnswer format: answer1/answer2/answer3/answer4"
    )
    return _record(instruction, f"the correct answer is answer{correct}", f"answer{correct}")


def make_math_example(rng: random.Random) -> Record:
    """A one-step word problem: add or take away a single-digit number; the result is never negative."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    first, second = rng.randint(0, 9), rng.randint(0, 9)
    if rng.random() < 0.5:
        result = first + second
        instruction = f"{name} has {first} {item}. {name} gets {second} more. How many {item} does {name} have now?"
        working = f"{first} + {second} = {result}"
    else:
        first, second = max(first, second), min(first, second)
        result = first - second
        instruction = f"{name} has {first} {item}. {name} gives away {second}. How many {item} are left?"
        working = f"{first} - {second} = {result}"
    output = f"\nA: {name} has {working} {item}. The answer is {result}."
    return _record(instruction, output, str(result))


_GENERATORS: dict[str, Callable[[random.Random], Record]] = {
    "synth_boolq": make_boolq_example,
    "synth_choice": make_choice_example,
    "synth_math": make_math_example,
}


def _write_json(path: Path, records: list[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_quickstart_data(root: Path | str, seed: int = 0, train_size: int = 3000, test_size: int = 100) -> Path:
    """Write the synthetic data set under ``root`` in the LLM-Adapters layout.

    Files written::

        root/dataset/synth_boolq/test.json     (test_size records each)
        root/dataset/synth_choice/test.json
        root/dataset/synth_math/test.json
        root/ft-training_set/synthetic_train.json   (train_size records, the three families interleaved)

    Args:
        root: output directory (created if needed); use it as the data module's ``data_dir``.
        seed: the only source of randomness; the same seed writes byte-identical files.
        train_size: number of training records (split evenly over the three families).
        test_size: number of records per test set. No test instruction appears in the training file.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.
    """
    root = Path(root)
    rng = random.Random(seed)
    tests = {name: [make(rng) for _ in range(test_size)] for name, make in _GENERATORS.items()}
    held_out = {record["instruction"] for records in tests.values() for record in records}

    train: list[Record] = []
    makers = list(_GENERATORS.values())
    attempts = 0
    while len(train) < train_size:
        record = makers[len(train) % len(makers)](rng)
        attempts += 1
        if attempts > 100 * max(train_size, 1):  # the generators' spaces are large; this never trips in practice
            raise RuntimeError("could not draw enough training records distinct from the test records")
        if record["instruction"] not in held_out:
            train.append(record)

    for name, records in tests.items():
        _write_json(root / "dataset" / name / "test.json", records)
    _write_json(root / QUICKSTART_TRAIN_FILE, train)
    return root
