from tests.data.conftest import datasets_cache, shared_data, tiny_tokenizer  # noqa: F401
