"""The built-in offline tokenizer and tokenizer loading."""

from __future__ import annotations

import time

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from denselora.errors import ConfigError, DataError
from denselora.models import load_tokenizer
from denselora.models import tokenizer as tokenizer_module
from denselora.models.tokenizer import _tiny_tokenizer_json, set_pad_token


def test_tiny_tokenizer_builds_fast_and_deterministically():
    _tiny_tokenizer_json.cache_clear()
    start = time.perf_counter()
    first = load_tokenizer("denselora/tiny")
    elapsed = time.perf_counter() - start
    _tiny_tokenizer_json.cache_clear()
    second = load_tokenizer("denselora/tiny")
    assert elapsed < 2.0
    assert first.get_vocab() == second.get_vocab()
    assert first("Tom has 12 apples.")["input_ids"] == second("Tom has 12 apples.")["input_ids"]


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        (
            "Please answer the following question with true or false",
            [1, 324, 267, 273, 385, 294, 364, 299, 374, 326],
        ),
        ("Tom has 42 apples. The answer is (C).", [1, 443, 293, 224, 23, 21, 330, 17, 361, 267, 277, 512, 38, 511]),
    ],
)
def test_the_tiny_tokenizer_keeps_its_token_ids(tiny_tokenizer, text, ids):
    # The quickstart base and the numbers recorded with it were made with these ids: the text the tokenizer is
    # trained on (registered by the quickstart) must not change them.
    assert len(tiny_tokenizer) == 552
    assert tiny_tokenizer(text)["input_ids"] == ids


def test_the_tiny_tokenizer_needs_registered_text(monkeypatch):
    monkeypatch.setattr(tokenizer_module, "_make_tiny_corpus", None)
    _tiny_tokenizer_json.cache_clear()
    try:
        with pytest.raises(ConfigError, match="register_tiny_tokenizer_corpus"):
            load_tokenizer("denselora/tiny")
    finally:
        monkeypatch.undo()
        _tiny_tokenizer_json.cache_clear()


def test_tiny_tokenizer_special_tokens(tiny_tokenizer):
    ids = tiny_tokenizer("the correct answer is true")["input_ids"]
    assert ids[0] == tiny_tokenizer.bos_token_id
    assert tiny_tokenizer.eos_token_id not in ids  # EOS is the data pipeline's job
    specials = {
        tiny_tokenizer.bos_token_id,
        tiny_tokenizer.eos_token_id,
        tiny_tokenizer.pad_token_id,
        tiny_tokenizer.unk_token_id,
    }
    assert len(specials) == 4 and None not in specials
    assert tiny_tokenizer.padding_side == "right"


@pytest.mark.parametrize("text", ["Tom has 12 apples.", "  spaced   out\n\n  ", "Ünïcödé ☃ 1,234.5", ""])
def test_tiny_tokenizer_round_trips_any_text(tiny_tokenizer, text):
    ids = tiny_tokenizer(text)["input_ids"]
    assert tiny_tokenizer.unk_token_id not in ids
    assert tiny_tokenizer.decode(ids, skip_special_tokens=True) == text


def test_digits_are_single_tokens(tiny_tokenizer):
    tokens = tiny_tokenizer.convert_ids_to_tokens(tiny_tokenizer("1234", add_special_tokens=False)["input_ids"])
    assert tokens == ["1", "2", "3", "4"]


def test_load_from_a_saved_directory(tiny_tokenizer, tmp_path):
    tiny_tokenizer.save_pretrained(tmp_path)
    loaded = load_tokenizer(str(tmp_path), padding_side="left")
    text = "Please answer the following question with true or false"
    assert loaded(text)["input_ids"] == tiny_tokenizer(text)["input_ids"]
    assert loaded.padding_side == "left"
    assert loaded.pad_token_id == tiny_tokenizer.pad_token_id


def _bare_tokenizer(**specials) -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.WordLevel({"zero": 0, "<unk>": 1, "</s>": 2, "a": 3}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>", **specials)


def test_missing_pad_token_falls_back_to_unk_then_id_zero():
    with_unk = set_pad_token(_bare_tokenizer(unk_token="<unk>"))
    assert with_unk.pad_token_id == with_unk.unk_token_id == 1
    without_unk = set_pad_token(_bare_tokenizer())
    assert without_unk.pad_token_id == 0  # as the authors' scripts: pad_token_id = 0


def test_unloadable_tokenizer_gives_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="denselora/tiny"):
        load_tokenizer(str(tmp_path / "no-such-tokenizer"))
    with pytest.raises(DataError, match="padding_side"):
        load_tokenizer("denselora/tiny", padding_side="middle")
