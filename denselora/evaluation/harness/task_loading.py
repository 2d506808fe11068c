"""lm-eval tasks by name, with their data loaded offline, or one message saying which name or data is at fault.

Tasks are looked up in the include paths first (the LLM-Adapters tasks written from ``data_dir``, the user's
``--include_path`` folders), an index built in milliseconds; lm-eval's own thousands of tasks are indexed (a few
seconds) only when a name is not found there. Every task's data is then loaded under
:func:`~denselora.evaluation.harness.offline.offline`, so a task that would download it fails at once, named.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from denselora.errors import ConfigError, DataError
from denselora.evaluation.harness.llm_adapters import GROUP, LLM_ADAPTERS_SETS, QA_SUFFIX, TASK_PREFIX
from denselora.evaluation.harness.offline import offline

__all__ = ["load_tasks"]

_LOCAL_DATA_HINT = (
    "this command reads local data only: give the task a local dataset_path, or dataset_path: json with "
    "dataset_kwargs: {data_files: {test: /path/to/docs.jsonl}}, as the llm_adapters_* tasks (written from "
    "--data_dir) do"
)


def load_tasks(
    names: Sequence[str], include_paths: Sequence[str | Path], llm_adapters_tasks: Sequence[str] | None = None
) -> tuple[Any, list[Any]]:
    """Build the tasks (and groups) ``names`` with their data, offline.

    Args:
        names: task, group or tag names, or paths of task YAML files.
        include_paths: folders of task YAMLs to index besides lm-eval's own.
        llm_adapters_tasks: the LLM-Adapters task names written for this run (``None``: no data folder was given),
            for the message on an unknown name.

    Returns:
        The ``TaskManager`` that knows them, and the built top-level tasks and groups, in the order asked for, as
        ``lm_eval.simple_evaluate`` takes them.

    Raises:
        ConfigError: a name is unknown; the message lists the LLM-Adapters names and how to add one's own tasks.
        DataError: a task's data cannot be read offline (a hub dataset, a missing or unreadable local file).
    """
    from lm_eval.tasks import TaskManager

    include = [str(Path(path).expanduser()) for path in include_paths]
    manager = TaskManager(include_path=include or None, include_defaults=False)
    if not all(_known(manager, name) for name in names):
        manager = TaskManager(include_path=include or None, include_defaults=True)
    unknown = [name for name in names if not _known(manager, name)]
    if unknown:
        raise ConfigError(_unknown_message(unknown, llm_adapters_tasks))
    built: list[Any] = []
    with offline():
        for name in names:
            built += _build(manager, name)
    return manager, built


def _known(manager, name: str) -> bool:
    return name in manager.all_tasks or (name.endswith((".yaml", ".yml")) and Path(name).is_file())


def _build(manager, name: str) -> list[Any]:
    """The top-level objects of one name: the task, the group (holding its tasks), or a tag's tasks."""
    import datasets

    try:
        loaded = manager.load([name])
    except (OSError, ValueError, datasets.exceptions.DatasetGenerationError) as err:
        # OSError: ConnectionError from a hub dataset under offline mode, FileNotFoundError from a missing local
        # file; ValueError: data files that match nothing; DatasetGenerationError: a local file that does not parse.
        raise DataError(
            f"task {name} cannot read its data offline ({type(err).__name__}: {_one_line(err)}); {_LOCAL_DATA_HINT}"
        ) from None
    groups, tasks = loaded.get("groups", {}), loaded["tasks"]
    children = {child for members in loaded.get("group_map", {}).values() for child in members}
    return [group for key, group in groups.items() if key not in children] + [
        task for key, task in tasks.items() if key not in children
    ]


def _unknown_message(unknown: list[str], llm_adapters_tasks: Sequence[str] | None) -> str:
    if llm_adapters_tasks:
        offered = f"The llm_adapters tasks of this data folder: {', '.join(llm_adapters_tasks)}"
    else:
        offered = (
            f"The llm_adapters tasks, {TASK_PREFIX}_<set> (the project's prompt) and {TASK_PREFIX}_<set>{QA_SUFFIX} "
            f"(lm-eval's Question/Answer prompt) for the sets {', '.join(LLM_ADAPTERS_SETS.values())}, and the "
            f"groups {GROUP}, {GROUP}{QA_SUFFIX}, are written from the LLM-Adapters data folder: "
            + ("give --data_dir (or set DENSELORA_DATA_DIR)" if llm_adapters_tasks is None else "it holds none")
        )
    return (
        f"unknown lm-eval task(s): {', '.join(unknown)}. {offered}. Your own tasks: --include_path DIR, a folder of "
        "lm-eval task YAMLs (dataset_path: json with local data_files)"
    )


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())
