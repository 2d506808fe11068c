"""Base models known by a name of their own, registered by the folder that builds them."""

import pytest

from denselora.models import (
    ConfigModel,
    HuggingFaceModel,
    base_model_from_spec,
    register_base_model,
    registered_base_model,
    registry,
)


@pytest.fixture
def clean_registry(monkeypatch):
    # Registrations made by a test stay in that test.
    monkeypatch.setattr(registry, "_BASE_MODELS", dict(registry._BASE_MODELS))


def test_a_registered_name_selects_its_source(clean_registry):
    register_base_model("me/tiny-base", lambda: ConfigModel({"model_type": "llama", "hidden_size": 8}))
    source = base_model_from_spec("me/tiny-base")
    assert isinstance(source, ConfigModel)
    assert source is not base_model_from_spec("me/tiny-base")  # a fresh source each time, as for any other spec


def test_a_name_no_one_registered_is_a_hugging_face_name(clean_registry):
    assert registered_base_model("me/not-registered") is None
    assert isinstance(base_model_from_spec("me/not-registered"), HuggingFaceModel)


def test_registering_a_name_again_replaces_its_source(clean_registry):
    register_base_model("me/tiny-base", lambda: HuggingFaceModel("a"))
    register_base_model("me/tiny-base", lambda: HuggingFaceModel("b"))
    assert base_model_from_spec("me/tiny-base").describe() == HuggingFaceModel("b").describe()
