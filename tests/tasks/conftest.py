# One definition of the shared fixtures, in tests/data/conftest.py.
from tests.data.conftest import datasets_cache, quickstart_root, shared_data, tiny_tokenizer  # noqa: F401
