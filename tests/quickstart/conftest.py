"""Fixtures of the quickstart tests: the synthetic data set, its tokenizer and a private datasets cache."""

from tests.data.conftest import datasets_cache, quickstart_root, tiny_tokenizer  # noqa: F401
