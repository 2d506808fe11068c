"""Access to the real LLM-Adapters files for tests.

The files are never copied into the project: tests read them from the folder named by the environment
variable ``DENSELORA_DATA_DIR`` (CI sets it). Unset: the tests that need them are skipped. Set: a missing
folder or file makes the test FAIL, so that CI cannot silently test nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV_VAR = "DENSELORA_DATA_DIR"

# The test sets that the shared folder holds (hellaswag is too large to carry).
SHARED_COMMONSENSE = ("boolq", "piqa", "social_i_qa", "winogrande", "ARC-Challenge", "ARC-Easy", "openbookqa")
SHARED_MATH = ("gsm8k", "AQuA", "AddSub", "SVAMP", "MultiArith")


class SharedData:
    """The real LLM-Adapters folder; :meth:`path` fails the test when a file is missing."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, relative: str) -> Path:
        path = self.root / relative
        if not path.exists():
            pytest.fail(f"{ENV_VAR}={self.root} is set, but {path} is missing")
        return path

    def test_set(self, name: str) -> Path:
        return self.path(f"dataset/{name}/test.json")


@pytest.fixture(scope="session")
def shared_data() -> SharedData:
    """The real data folder from ``DENSELORA_DATA_DIR``: skip when unset, fail when set but absent."""
    value = os.environ.get(ENV_VAR)
    if not value:
        pytest.skip(f"{ENV_VAR} is not set; point it at an LLM-Adapters data folder to run the real-data tests")
    root = Path(value).expanduser()
    if not root.is_dir():
        pytest.fail(f"{ENV_VAR}={value} is set, but that folder does not exist")
    return SharedData(root)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from denselora.models import load_tokenizer

    return load_tokenizer("denselora/tiny")


@pytest.fixture(scope="session")
def quickstart_root(tmp_path_factory) -> Path:
    """The synthetic data set (seed 0, 600 training records, 24 items per test set)."""
    from denselora.quickstart import write_quickstart_data

    return write_quickstart_data(tmp_path_factory.mktemp("quickstart"), seed=0, train_size=600, test_size=24)


@pytest.fixture(scope="session")
def datasets_cache(tmp_path_factory) -> str:
    """A private ``datasets`` cache, so tests neither read nor pollute the user's cache."""
    return str(tmp_path_factory.mktemp("hf_datasets_cache"))
