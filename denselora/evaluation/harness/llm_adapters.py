"""lm-eval task files for the LLM-Adapters commonsense test sets, read offline from a local copy.

lm-evaluation-harness's own tasks for these sets (``arc_easy``, ``boolq``, ...) load their data from the Hugging
Face hub. :func:`write_llm_adapters_tasks` writes, for every set present under ``<data_dir>/dataset/<name>/
test.json``, the items as a JSON-lines file of docs and two lm-eval task YAMLs that read it with
``dataset_path: json``, so they run with no network:

``llm_adapters_<slug>``
    the project's prompt: the item's question rendered with the prompt template (``alpaca`` by default), each
    option's text scored as the response right after it (``target_delimiter: ""``), as training and the
    project's own likelihood scoring present an item;
``llm_adapters_<slug>_qa``
    lm-evaluation-harness's own ARC prompt, ``Question: {{question}}\\nAnswer:``, each option after a space.

Groups ``llm_adapters`` and ``llm_adapters_qa`` hold the sets written, with the unweighted mean over the sets
(the paper's average). Each doc holds ``instruction`` and ``question``
(:attr:`~denselora.tasks.choices.MultipleChoice.instruction` and ``.question``), ``choices``, ``gold`` (an index
into ``choices``) and ``prompt`` (the rendered instruction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from denselora.data.download import download_command
from denselora.data.prompts import TEMPLATES, format_prompt
from denselora.errors import ConfigError, DataError, MissingDataError
from denselora.tasks.choices import OptionsError, parse_choices

__all__ = [
    "GROUP",
    "LLM_ADAPTERS_SETS",
    "QA_SUFFIX",
    "TASK_PREFIX",
    "WrittenTasks",
    "llm_adapters_task_names",
    "read_docs",
    "write_llm_adapters_tasks",
]

#: LLM-Adapters folder name under ``<data_dir>/dataset/`` -> the slug in the task names, in the paper's order.
LLM_ADAPTERS_SETS = {
    "boolq": "boolq",
    "piqa": "piqa",
    "social_i_qa": "siqa",
    "hellaswag": "hellaswag",
    "winogrande": "winogrande",
    "ARC-Easy": "arc_easy",
    "ARC-Challenge": "arc_challenge",
    "openbookqa": "openbookqa",
}
TASK_PREFIX = "llm_adapters"
#: The suffix of the variant with lm-eval's own ``Question: ...\nAnswer:`` prompt.
QA_SUFFIX = "_qa"
#: The group of the project-prompt tasks; ``GROUP + QA_SUFFIX`` is the group of the ``_qa`` ones.
GROUP = TASK_PREFIX
#: The folder, under the directory given to :func:`write_llm_adapters_tasks`, that holds the files.
TASKS_FOLDER = "llm_adapters"
_QA_PROMPT = "Question: {{question}}\nAnswer:"
_METRICS = [
    {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
    {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
]
# Bumped when the docs or the prompts change, so lm-eval's results say which task files produced them.
_VERSION = 1.0


@dataclass(frozen=True)
class WrittenTasks:
    """What :func:`write_llm_adapters_tasks` wrote.

    Attributes:
        folder: the folder holding the docs and YAMLs, to give lm-eval as an include path.
        tasks: the task names written, project-prompt and ``_qa`` variants, in the paper's order of the sets.
        groups: the group names written (none when no set was found).
    """

    folder: Path
    tasks: tuple[str, ...]
    groups: tuple[str, ...]


def llm_adapters_task_names() -> list[str]:
    """Every task and group name :func:`write_llm_adapters_tasks` can write, for messages."""
    names = [f"{TASK_PREFIX}_{slug}{suffix}" for suffix in ("", QA_SUFFIX) for slug in LLM_ADAPTERS_SETS.values()]
    return [GROUP, GROUP + QA_SUFFIX, *names]


def read_docs(path: Path, template: str = "alpaca") -> list[dict[str, Any]]:
    """The docs of one LLM-Adapters test file: each record's options parsed from its instruction.

    Args:
        path: ``<data_dir>/dataset/<name>/test.json`` (a JSON list, or JSON lines).
        template: the prompt template of the ``prompt`` field (a key of
            :data:`denselora.data.prompts.TEMPLATES`).

    Returns:
        One dict per record, in file order: ``instruction``, ``question``, ``choices``, ``gold``, ``prompt``.

    Raises:
        DataError: the file is not JSON, a record is not an object with ``instruction`` and ``answer``, or its
            options or answer cannot be read; the message names the file and the record.
    """
    try:
        text = path.read_text(encoding="utf-8")
        records = (
            json.loads(text)
            if text.lstrip().startswith("[")
            else [json.loads(line) for line in text.splitlines() if line.strip()]
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path} is not a JSON list or JSON lines of LLM-Adapters records ({err})") from None
    docs = []
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("instruction"), str) or "answer" not in record:
            raise DataError(
                f"{path}, record {index}: expected an object with 'instruction' and 'answer', got {record!r:.120}"
            )
        try:
            item = parse_choices(record["instruction"], record["answer"])
        except OptionsError as err:
            raise DataError(f"{path}, record {index}: cannot read its options: {err}") from None
        docs.append(
            {
                "instruction": item.instruction,
                "question": item.question,
                "choices": list(item.choices),
                "gold": item.gold,
                "prompt": format_prompt(template, item.instruction, record.get("input") or ""),
            }
        )
    if not docs:
        raise DataError(f"{path} holds no records")
    return docs


def write_llm_adapters_tasks(data_dir: str | Path, directory: str | Path, template: str = "alpaca") -> WrittenTasks:
    """Write the docs and task YAMLs of every LLM-Adapters commonsense test set found under ``data_dir``.

    Args:
        data_dir: the LLM-Adapters folder (it holds ``dataset/<name>/test.json``).
        directory: where to write; the files go to ``<directory>/llm_adapters/``, which is then an lm-eval include
            path. The YAMLs name the docs by absolute path, so they work from any working directory.
        template: the prompt template of the project-prompt tasks.

    Returns:
        The folder and the task and group names written.

    Raises:
        MissingDataError: ``data_dir`` does not exist or holds none of the sets.
        ConfigError: ``template`` is not a known template.
        DataError: a test file cannot be read (see :func:`read_docs`).
    """
    if template not in TEMPLATES:
        raise ConfigError(f"unknown prompt template {template!r}; choose one of {', '.join(TEMPLATES)}")
    data_dir = Path(data_dir).expanduser().resolve()
    fetch = download_command(data_dir, ["commonsense"], "none")
    if not data_dir.is_dir():
        raise MissingDataError(
            f"{data_dir}: no such data folder (the LLM-Adapters folder holding dataset/<name>/test.json); `{fetch}` "
            "fetches the test sets into it"
        )
    found = {name: data_dir / "dataset" / name / "test.json" for name in LLM_ADAPTERS_SETS}
    found = {name: path for name, path in found.items() if path.is_file()}
    if not found:
        raise MissingDataError(
            f"{data_dir} holds none of the LLM-Adapters commonsense test sets: expected dataset/<name>/test.json "
            f"for at least one of {', '.join(LLM_ADAPTERS_SETS)}; `{fetch}` fetches them"
        )
    folder = Path(directory).expanduser().resolve() / TASKS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    project, qa = [], []
    for name, path in found.items():
        slug = LLM_ADAPTERS_SETS[name]
        docs_path = folder / f"{slug}.jsonl"
        lines = "".join(json.dumps(doc, ensure_ascii=False) + "\n" for doc in read_docs(path, template))
        _write_if_changed(docs_path, lines)
        common = {
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(docs_path)}},
            "output_type": "multiple_choice",
            "test_split": "test",
            "doc_to_choice": "choices",
            "doc_to_target": "gold",
            "metric_list": _METRICS,
        }
        metadata = {"version": _VERSION, "source": str(path)}
        task = f"{TASK_PREFIX}_{slug}"
        _write_yaml(
            folder / f"{task}.yaml",
            {
                "task": task,
                **common,
                "doc_to_text": "prompt",
                "target_delimiter": "",
                "metadata": {**metadata, "template": template},
            },
        )
        _write_yaml(
            folder / f"{task}{QA_SUFFIX}.yaml",
            {"task": task + QA_SUFFIX, **common, "doc_to_text": _QA_PROMPT, "metadata": metadata},
        )
        project.append(task)
        qa.append(task + QA_SUFFIX)
    groups = []
    for group, members in ((GROUP, project), (GROUP + QA_SUFFIX, qa)):
        # The paper's average is over the sets, each counting once, so the group's mean is not weighted by size.
        aggregate = [{"metric": m["metric"], "aggregation": "mean", "weight_by_size": False} for m in _METRICS]
        _write_yaml(
            folder / f"_{group}.yaml",
            {"group": group, "task": members, "aggregate_metric_list": aggregate, "metadata": {"version": _VERSION}},
        )
        groups.append(group)
    _remove_stale_files(folder, {f"{t}.yaml" for t in project + qa} | {f"_{g}.yaml" for g in groups}, found)
    return WrittenTasks(folder, tuple(project + qa), tuple(groups))


def _write_yaml(path: Path, content: dict[str, Any]) -> None:
    _write_if_changed(path, yaml.safe_dump(content, sort_keys=False, allow_unicode=True))


def _write_if_changed(path: Path, text: str) -> None:
    # An unchanged file keeps its modification time, so the `datasets` cache of the docs stays valid between runs.
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _remove_stale_files(folder: Path, yamls: set[str], found: dict[str, Path]) -> None:
    # A set that was present in an earlier run of the same output folder but is gone now must not stay indexed.
    docs = {f"{LLM_ADAPTERS_SETS[name]}.jsonl" for name in found}
    for path in folder.iterdir():
        if (path.suffix == ".yaml" and path.name not in yamls) or (path.suffix == ".jsonl" and path.name not in docs):
            path.unlink()
