"""Reading LLM-Adapters JSON files into ``datasets.Dataset`` objects, with errors a user can act on.

Files are a JSON list of records (or JSON lines) with the fields ``instruction, input, output, answer``.
Loading goes through ``datasets`` (Arrow cache: a second run reads the cached table). When that fails, or a
field is missing or mistyped, the error names the file, the record index and the fix.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from denselora.errors import DataError, MissingDataError

__all__ = ["FIELDS", "load_hub_dataset", "load_json_dataset", "validate_fields"]

FIELDS = ("instruction", "input", "output", "answer")
_FORMAT_HINT = (
    "An LLM-Adapters data file is a JSON list of records (or JSON lines), each an object with the string "
    "fields instruction, input, output and answer."
)


def load_json_dataset(
    path: Path | str, required: Sequence[str], *, missing_hint: str = "", cache_dir: str | None = None
) -> datasets.Dataset:
    """Load and validate one LLM-Adapters JSON file.

    Args:
        path: the JSON (list) or JSON-lines file.
        required: string fields every record must have (``input`` is optional and defaults to ``""``).
        missing_hint: what to do when the file does not exist, appended to the error message.
        cache_dir: ``datasets`` cache directory (default: the ``datasets`` default, ``HF_DATASETS_CACHE``).

    Returns:
        A dataset with (at least) the required columns and an ``input`` column.

    Raises:
        MissingDataError: the file does not exist.
        DataError: the file is empty, is not valid JSON, or a record lacks a field or has a wrong type.
    """
    given = Path(os.path.abspath(Path(path).expanduser()))
    path = given.resolve()
    name = str(path) if path == given else f"{given} (a link to {path})"  # messages name the path the user gave
    if not path.is_file():
        raise MissingDataError(f"Data file not found: {name}. {missing_hint}".strip())
    if path.stat().st_size == 0:
        raise DataError(f"{name} is empty. {_FORMAT_HINT} Re-download or regenerate the file.")
    try:
        with _no_progress_bars():  # reading a cached table is instant; the "Generating train split" bar is noise
            dataset = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=cache_dir)
    except Exception as exc:  # datasets wraps JSON and Arrow errors in several types; diagnose them ourselves
        _diagnose_json(path, name)
        raise DataError(f"Could not read {name}: {exc}. {_FORMAT_HINT}") from exc
    if len(dataset) == 0:
        raise DataError(f"{name} holds no records. {_FORMAT_HINT}")
    return validate_fields(dataset, name, required, path)


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def load_hub_dataset(name: str, required: Sequence[str], *, cache_dir: str | None = None) -> datasets.Dataset:
    """Load the ``train`` split of a Hugging Face dataset in the LLM-Adapters format and validate it.

    Raises:
        DataError: the dataset cannot be loaded (offline, unknown name) or has the wrong fields.
    """
    try:
        dataset = datasets.load_dataset(name, split="train", cache_dir=cache_dir)
    except Exception as exc:
        raise DataError(
            f"train_file {name!r} is not a file and could not be loaded as a Hugging Face dataset: {exc}"
        ) from exc
    return validate_fields(dataset, f"Hugging Face dataset {name!r}", required)


def validate_fields(
    dataset: datasets.Dataset, source: str, required: Sequence[str], path: Path | None = None
) -> datasets.Dataset:
    """Check that every record has each required field as a string (``answer`` may also be a number).

    Args:
        dataset: the loaded records.
        source: how to name the data in error messages (a path).
        required: the fields to check; ``input`` is added as ``""`` when absent.
        path: the JSON file the records came from, if any. A column whose records mix types is re-read from
            it, because ``datasets`` stores such a column as JSON and decodes ``"true"`` to ``True``.

    Returns:
        The dataset, with an ``input`` column and string ``answer`` values (numbers written as strings).

    Raises:
        DataError: naming ``source``, the first bad record's index and the fix.
    """
    for field in required:
        if field not in dataset.column_names:
            raise DataError(
                f"{source}: record 0 has no field {field!r} "
                f"(fields found: {', '.join(dataset.column_names)}). {_FORMAT_HINT}"
            )
    checks = [(field, field == "answer", False) for field in required]
    if "input" in dataset.column_names:
        checks.append(("input", False, True))
    raw_records = None
    for field, allow_numbers, allow_null in checks:
        column = dataset.data.column(field)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            if not allow_null and column.null_count:
                index = pc.index(pc.is_null(column), True).as_py()
                raise DataError(
                    f"{source}: record {index} has no {field!r} (missing or null). Every record needs a "
                    f"string {field!r}; fix or remove that record."
                )
            continue
        # A non-string column: check the values as written in the file (rare, so speed is no concern).
        if raw_records is None:
            raw_records = _read_records(path) if path is not None else dataset.to_list()
        values = [record.get(field) if isinstance(record, dict) else None for record in raw_records]
        for index, value in enumerate(values):
            if value is None and allow_null:
                continue
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (isinstance(value, str) or (allow_numbers and number)):
                what = f"{value!r} ({type(value).__name__})"
                if value is None:
                    what = "no value (missing or null)"
                kind = "a string or a number" if allow_numbers else "a string"
                raise DataError(
                    f"{source}: record {index} has {what} as {field!r}, which must be {kind}; fix that record."
                )
        if field == "answer":
            dataset = dataset.remove_columns("answer").add_column("answer", [str(value) for value in values])
    if "input" not in dataset.column_names:
        dataset = dataset.add_column("input", [""] * len(dataset))
    return dataset


def _read_records(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _diagnose_json(path: Path, name: str) -> None:
    """Raise a :class:`DataError` naming the first unreadable record of ``path``; return if none is found."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name} is not UTF-8 text ({exc}). {_FORMAT_HINT}") from exc
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise DataError(f"{name} is empty. {_FORMAT_HINT}")
    if text[start] == "[":
        _diagnose_list(name, text, start + 1)
    elif text[start] == "{":
        _diagnose_lines(name, text)
    else:
        raise DataError(f"{name} is not JSON: it starts with {text[start : start + 20]!r}. {_FORMAT_HINT}")


def _diagnose_list(name: str, text: str, position: int) -> None:
    decoder = json.JSONDecoder()
    index = 0
    fix = "The file is probably truncated or was edited by hand; re-download or regenerate it."
    while True:
        position = _skip_space(text, position)
        if position >= len(text):
            raise DataError(f"{name} ends after record {index - 1} without the closing ']'. {fix}")
        if text[position] == "]" and index == 0:
            raise DataError(f"{name} holds no records (an empty list). {_FORMAT_HINT}")
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{name}: record {index} (line {exc.lineno}, column {exc.colno}) is not valid JSON: {exc.msg}. {fix}"
            ) from exc
        if not isinstance(record, dict):
            raise DataError(f"{name}: record {index} is {type(record).__name__}, not an object. {_FORMAT_HINT}")
        position = _skip_space(text, position)
        if position >= len(text):
            raise DataError(f"{name} ends after record {index} without the closing ']'. {fix}")
        if text[position] == "]":
            return
        if text[position] != ",":
            line = text.count("\n", 0, position) + 1
            raise DataError(f"{name}: expected ',' or ']' after record {index} (line {line}). {fix}")
        position += 1
        index += 1


def _diagnose_lines(name: str, text: str) -> None:
    index = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{name}: record {index} (line {line_number}) is not valid JSON: {exc.msg}. "
                "Fix or remove that line; the file may be truncated."
            ) from exc
        if not isinstance(record, dict):
            raise DataError(f"{name}: record {index} (line {line_number}) is not an object. {_FORMAT_HINT}")
        index += 1


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position
