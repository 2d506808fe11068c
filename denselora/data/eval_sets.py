"""Evaluation sets: an LLM-Adapters ``dataset/<name>/test.json`` with its task, prompts and token ids."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from denselora.checked_names import checked_name
from denselora.data.collate import PaddingCollator
from denselora.data.download import fetch_command
from denselora.data.prompts import format_prompt
from denselora.data.records import load_json_dataset, validate_fields
from denselora.data.samplers import ShardedLengthSortedSampler
from denselora.data.tokenization import PromptTokenizer
from denselora.errors import DataError, MissingDataError
from denselora.tasks import TaskSpec, resolve_task
from denselora.tasks.choices import MultipleChoice, OptionsError, choices_from_fields, parse_choices
from denselora.tasks.registry import UnknownTaskError, infer_task

__all__ = [
    "EvalSet",
    "PredictSet",
    "ScoredPrompts",
    "eval_dataloader",
    "eval_set_name",
    "load_eval_set",
    "load_predict_set",
    "predict_output_name",
    "resolve_predict_file",
    "scored_prompts",
    "test_file_path",
]


EVAL_SETTING = "data.init_args.eval_datasets"
_EVAL_ALLOWED = "a folder name under <data_dir>/dataset/, optionally followed by ':<known dataset>'"


def eval_set_name(entry: str) -> str:
    """The folder name of an ``eval_datasets`` entry (``"<name>"`` or ``"<name>:<known dataset>"``).

    Raises:
        ConfigError: the name is not a single folder name (e.g. ``../../tmp/evil``).
    """
    return checked_name(entry.split(":", 1)[0].strip(), EVAL_SETTING, _EVAL_ALLOWED)


def test_file_path(data_dir: Path | str, name: str) -> Path:
    """``<data_dir>/dataset/<name>/test.json``, the LLM-Adapters location of a test set.

    Raises:
        ConfigError: ``name`` is not a single folder name.
    """
    checked_name(name, EVAL_SETTING, _EVAL_ALLOWED)
    return Path(data_dir).expanduser().resolve() / "dataset" / name / "test.json"


@dataclass
class EvalSet:
    """One evaluation dataset, ready for generation and scoring.

    Attributes:
        name: dataset name (folder under ``dataset/``).
        task: how it is generated and scored; ``None`` for a set whose records carry ``choices`` and ``gold`` but
            no ``answer``, which only scoring by likelihood can score.
        path: the test file.
        template: the prompt template the prompts were rendered with.
        data: ``datasets.Dataset`` with ``index`` (int), ``input_ids`` (list[int], the prompt with BOS) and
            ``length`` (int) per item, in file order.
        instructions, inputs, answers, prompts: per-item lists in file order (``answers`` are the raw gold
            ``answer`` fields, ``None`` where a record has none; ``prompts`` are the rendered prompts the
            completions continue).
        choices: each item's options (:mod:`denselora.tasks.choices`), or ``None`` when the set has none to read
            (a math set); :attr:`choices_problem` then says why.
        choices_problem: why :attr:`choices` is ``None``, naming the first record that has no readable options.
    """

    name: str
    task: TaskSpec | None
    path: Path
    template: str
    data: datasets.Dataset
    instructions: list[str]
    inputs: list[str]
    answers: list[Any]
    prompts: list[str]
    choices: list[MultipleChoice] | None = None
    choices_problem: str | None = None

    def __len__(self) -> int:
        return len(self.answers)

    def likelihood_prompts(self) -> list[str]:
        """Each item's prompt for scoring its options by likelihood: the question without the listed options
        (:attr:`MultipleChoice.instruction`), rendered with the set's template, as the ``option_text`` training
        target renders it.

        Raises:
            DataError: the set has no options (:attr:`choices_problem` says why).
        """
        if self.choices is None:
            raise DataError(f"test set {self.name!r} cannot be scored by likelihood: {self.choices_problem}")
        return [
            format_prompt(self.template, item.instruction, given)
            for item, given in zip(self.choices, self.inputs, strict=True)
        ]


def load_eval_set(
    data_dir: Path | str,
    entry: str,
    tokenizer: PreTrainedTokenizerBase,
    template: str,
    limit: int | None = None,
    cache_dir: str | None = None,
) -> EvalSet:
    """Load ``dataset/<name>/test.json``, resolve its task, read its options, render and tokenize the prompts.

    Args:
        data_dir: root of an LLM-Adapters-style tree.
        entry: a dataset name, or ``"<name>:<known dataset>"`` to score a new folder like a known dataset
            (see :func:`denselora.tasks.resolve_task`); an unknown name's rule is inferred from its answers.
        tokenizer: tokenizer for the prompts.
        template: prompt template name.
        limit: keep only the first ``limit`` items (quick runs); ``None`` keeps all.
        cache_dir: ``datasets`` cache directory.

    Records need an ``instruction`` and either a gold ``answer`` (the LLM-Adapters sets) or ``choices`` (a list of
    option texts) with ``gold`` (the index of the right one), or all three.

    Raises:
        ConfigError: the name is not a single folder name.
        MissingDataError: the test file does not exist.
        DataError: unreadable file, bad records, gold answers the task's rule cannot use, unknown task,
            ``choices`` without ``gold`` (or the reverse), a ``gold`` that is not an index into its ``choices``.
    """
    name = eval_set_name(entry)
    path = test_file_path(data_dir, name)
    root = Path(data_dir).expanduser().resolve()
    command = fetch_command(root, [f"dataset/{name}/test.json"])
    fetch = f"`{command}` fetches it" if command else f"Copy the folder dataset/{name}/ into {root / 'dataset'}"
    hint = f"{fetch}, or remove {name!r} from eval_datasets."
    records = load_json_dataset(path, ("instruction",), missing_hint=hint, cache_dir=cache_dir)
    if limit is not None:
        records = records.select(range(min(limit, len(records))))
    columns = set(records.column_names)
    has_choices = "choices" in columns or "gold" in columns
    if "answer" not in columns and not has_choices:
        raise DataError(
            f"{path}: record 0 has no field 'answer' (fields found: {', '.join(records.column_names)}). Each record "
            "needs its gold 'answer' (an LLM-Adapters label, number or letter), or 'choices' (the options' texts) "
            "and 'gold' (the index of the right one) to be scored by likelihood."
        )
    task = None
    answers: list[Any] = [None] * len(records)
    if "answer" in columns:
        records = validate_fields(records, str(path), ("instruction", "answer"), path)  # numbers become strings
        answers = list(records["answer"])
        _, task = resolve_task(entry, answers)
        for index, answer in enumerate(answers):
            try:
                task.rule.parse_gold(answer)
            except ValueError as exc:
                raise DataError(
                    f"{path}: record {index} has an invalid answer for {task.name} ({exc}); fix that record."
                ) from None
    choices, problem = _read_choices(records, answers, path, has_choices)

    tokenized = records.map(
        PromptTokenizer(tokenizer, template),
        batched=True,
        desc=f"Tokenizing {name} prompts",
    )
    data = tokenized.select_columns(["input_ids", "length"]).add_column("index", list(range(len(tokenized))))
    return EvalSet(
        name=name,
        task=task,
        path=path,
        template=template,
        data=data,
        instructions=list(records["instruction"]),
        inputs=[value or "" for value in records["input"]],
        answers=answers,
        prompts=list(tokenized["prompt"]),
        choices=choices,
        choices_problem=problem,
    )


def _read_choices(
    records: datasets.Dataset, answers: list[Any], path: Path, given: bool
) -> tuple[list[MultipleChoice] | None, str | None]:
    """Each record's options, from its ``choices`` and ``gold`` when it has them (``given``: an error in them is the
    user's to fix), else from its LLM-Adapters instruction (a set without any, such as a math set, simply has none).
    """
    instructions = records["instruction"]
    if given:
        listed = records["choices"] if "choices" in records.column_names else [None] * len(records)
        golds = records["gold"] if "gold" in records.column_names else [None] * len(records)
        items = []
        for index, (instruction, options, gold) in enumerate(zip(instructions, listed, golds, strict=True)):
            try:
                items.append(choices_from_fields(instruction, options, gold))
            except OptionsError as exc:
                raise DataError(f"{path}: record {index}: {exc}; fix that record.") from None
        return items, None
    items = []
    for index, (instruction, answer) in enumerate(zip(instructions, answers, strict=True)):
        try:
            items.append(parse_choices(instruction, answer))
        except OptionsError as exc:
            return None, (
                f"record {index} of {path} lists no options to choose from ({exc}). Scoring by likelihood needs "
                "LLM-Adapters' multiple-choice or true/false instructions, or records with 'choices' and 'gold'; "
                "score this set with model.init_args.scoring generate"
            )
    return items, None


@dataclass
class PredictSet:
    """Prompts to answer, without gold answers: the input of ``predict``.

    Attributes:
        name: the file's stem.
        path: the file.
        data: ``datasets.Dataset`` with ``index``, ``input_ids`` and ``length`` per record, in file order.
        instructions, inputs, prompts: per-record lists in file order.
    """

    name: str
    path: Path
    data: datasets.Dataset
    instructions: list[str]
    inputs: list[str]
    prompts: list[str]

    def __len__(self) -> int:
        return len(self.instructions)


PREDICT_SETTING = "data.init_args.predict_file"
PREDICT_ALLOWED = "a JSON file whose name, less its extension, names <run>/predictions/<name>.jsonl"


def predict_output_name(path: Path | str) -> str:
    """The name of the predictions of ``path``: its file name less the extension.

    Raises:
        ConfigError: that name is not a plain file name (e.g. the file ``...json``, whose stem is ``..``).
    """
    return checked_name(Path(path).stem, PREDICT_SETTING, PREDICT_ALLOWED)


def resolve_predict_file(predict_file: Path | str, data_dir: Path | str) -> tuple[Path, bool]:
    """Find ``predict_file`` as a shell would: absolute, or relative to the current directory.

    A relative path that is not in the current directory but is under ``data_dir`` is still accepted, as
    earlier versions looked only there.

    Args:
        predict_file: the path as given (``~`` is expanded).
        data_dir: the data module's ``data_dir``.

    Returns:
        The absolute path of the file, and whether it was found under ``data_dir`` rather than where a shell
        would look.

    Raises:
        MissingDataError: the file is in neither place; the message names each path tried.
    """
    given = Path(predict_file).expanduser()
    here = given if given.is_absolute() else Path.cwd() / given
    if here.is_file():
        return here.resolve(), False
    tried = [here]
    if not given.is_absolute():
        in_data_dir = Path(data_dir).expanduser() / given
        if in_data_dir.is_file():
            return in_data_dir.resolve(), True
        tried.append(in_data_dir)
    raise MissingDataError(
        f"{PREDICT_SETTING} {str(predict_file)!r}: no such file; tried {' and '.join(str(p) for p in tried)}. Give "
        "the path of a JSON list of records with an 'instruction', absolute or relative to the current directory."
    )


def load_predict_set(path: Path | str, tokenizer: PreTrainedTokenizerBase, template: str) -> PredictSet:
    """Load a JSON of records with ``instruction`` (and optional ``input``) and render their prompts.

    Raises:
        ConfigError: the file's name less its extension is not a plain file name.
        MissingDataError: the file does not exist.
        DataError: unreadable file or bad records.
    """
    name = predict_output_name(path)
    path = Path(path).expanduser().resolve()
    records = load_json_dataset(path, ("instruction",), missing_hint="Give predict_file as a path to a JSON file.")
    tokenized = records.map(PromptTokenizer(tokenizer, template), batched=True, desc=f"Tokenizing {path.name}")
    data = tokenized.select_columns(["input_ids", "length"]).add_column("index", list(range(len(tokenized))))
    return PredictSet(
        name=name,
        path=path,
        data=data,
        instructions=list(records["instruction"]),
        inputs=[value or "" for value in records["input"]],
        prompts=list(tokenized["prompt"]),
    )


@dataclass
class ScoredPrompts(PredictSet):
    """Prompts with gold answers and a task per item, e.g. held-out training records of several datasets.

    Attributes:
        answers: the gold ``answer`` of each record.
        tasks: each record's answer rule, inferred from its gold answer (the label vocabularies are disjoint).
    """

    answers: list[Any]
    tasks: list[TaskSpec]


def scored_prompts(
    records: datasets.Dataset, name: str, tokenizer: PreTrainedTokenizerBase, template: str
) -> ScoredPrompts:
    """Generation prompts for ``records`` (fields ``instruction``, ``input``, ``answer``), scored item by item.

    Raises:
        DataError: a record's answer fits no known rule.
    """
    answers = list(records["answer"])
    tasks = []
    for index, answer in enumerate(answers):
        try:
            tasks.append(infer_task(name, [answer]))
        except UnknownTaskError:
            raise DataError(
                f"{name}: record {index} has the answer {answer!r}, which fits no known answer rule, so it cannot "
                "be scored; set val_generation_size to 0 or fix the record"
            ) from None
    tokenized = records.map(PromptTokenizer(tokenizer, template), batched=True, desc=f"Tokenizing {name} prompts")
    data = tokenized.select_columns(["input_ids", "length"]).add_column("index", list(range(len(tokenized))))
    return ScoredPrompts(
        name=name,
        path=Path(name),
        data=data,
        instructions=list(records["instruction"]),
        inputs=[value or "" for value in records["input"]],
        prompts=list(tokenized["prompt"]),
        answers=answers,
        tasks=tasks,
    )


def eval_dataloader(
    eval_set: EvalSet | PredictSet,
    pad_token_id: int,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
) -> DataLoader:
    """Left-padded generation batches of this rank's share of ``eval_set``, longest prompts first.

    Each batch is ``{"input_ids", "attention_mask": LongTensor[batch, length], "index": LongTensor[batch]}``;
    ``index`` is the item's position in the test file. Across ranks every item appears exactly once.
    """
    sampler = ShardedLengthSortedSampler(list(eval_set.data["length"]), rank=rank, world_size=world_size)
    return DataLoader(
        eval_set.data,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=PaddingCollator(pad_token_id, padding_side="left"),
        num_workers=num_workers,
    )
