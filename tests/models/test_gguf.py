"""A GGUF file becomes a plain Hugging Face model and tokenizer, converted once and exactly."""

import importlib.util

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from denselora.models import GGUFModel, converted_gguf, resolve_model_file
from denselora.models import gguf as gguf_module


def test_the_real_model_is_a_plain_llama_that_saves(real_base, tmp_path):
    assert type(real_base) is LlamaForCausalLM
    config = real_base.config
    assert (config.num_hidden_layers, config.hidden_size, config.intermediate_size) == (30, 576, 1536)
    assert (config.num_attention_heads, config.num_key_value_heads, config.vocab_size) == (9, 3, 49152)
    assert real_base.lm_head.weight is real_base.model.embed_tokens.weight  # tied, as in the file
    assert getattr(real_base, "hf_quantizer", None) is None and not hasattr(config, "quantization_config")
    assert real_base.dtype == torch.float32
    real_base.save_pretrained(tmp_path)  # refused while the GGUF quantizer is attached
    assert (tmp_path / "model.safetensors").is_file()


def test_the_base_is_built_in_the_asked_dtype(real_model_spec, real_tokenizer):
    model = GGUFModel(real_model_spec).build(torch.bfloat16, real_tokenizer)
    assert model.dtype == torch.bfloat16
    skeleton = GGUFModel(real_model_spec).skeleton(real_tokenizer)
    assert next(skeleton.parameters()).device.type == "meta"
    assert {k: v.shape for k, v in skeleton.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_it_knows_what_a_pretrained_model_knows(real_base, real_tokenizer):
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    ids = real_tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = real_base.generate(**ids, max_new_tokens=12, do_sample=False, pad_token_id=real_tokenizer.pad_token_id)
    assert "Paris" in real_tokenizer.decode(out[0, ids["input_ids"].shape[1] :])


@pytest.fixture(scope="module")
def read_directly(real_model_spec):
    """The model and tokenizer as transformers reads the GGUF file itself (slow: every tensor dequantized)."""
    path = resolve_model_file(real_model_spec)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return model, tokenizer


def test_the_cached_conversion_holds_exactly_the_dequantized_weights(real_base, read_directly):
    direct = read_directly[0].state_dict()
    converted = real_base.state_dict()
    assert set(converted) == set(direct)
    for name, tensor in direct.items():
        assert torch.equal(converted[name], tensor), name


def test_the_cached_tokenizer_encodes_as_the_gguf_one(real_tokenizer, read_directly, shared_data):
    import json

    records = json.loads(shared_data.path("dataset/ARC-Easy/test.json").read_text())[:20]
    records += json.loads(shared_data.path("dataset/boolq/test.json").read_text())[:20]
    texts = [record["instruction"] for record in records] + ["  spaces\tand ünïcödé ✓ 1234567 <|im_end|>"]
    direct = read_directly[1]
    assert [real_tokenizer(t)["input_ids"] for t in texts] == [direct(t)["input_ids"] for t in texts]
    assert (real_tokenizer.eos_token, real_tokenizer.pad_token, real_tokenizer.bos_token) == (
        direct.eos_token, direct.pad_token, direct.bos_token
    )  # fmt: skip


def test_a_converted_file_is_not_converted_again(real_model_spec, monkeypatch):
    folder = converted_gguf(real_model_spec)

    def convert_again(path):
        raise AssertionError("converted twice")

    monkeypatch.setattr(gguf_module, "_read_gguf", convert_again)
    assert converted_gguf(real_model_spec) == folder


def test_the_packaged_file_is_found_without_importing_its_package(real_model_spec):
    package = real_model_spec.removeprefix("pkg:").split("/")[0]
    path = resolve_model_file(real_model_spec)
    assert path.is_file() and path.suffix == ".gguf"
    assert str(path).startswith(importlib.util.find_spec(package).submodule_search_locations[0])


def test_the_dequantization_bar_is_drawn_on_a_terminal_only():
    import io

    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert callable(gguf_utils.tqdm)  # what the patch replaces: a transformers upgrade that moves it is noticed here
    log, terminal = io.StringIO(), Terminal()
    with gguf_module._bar_only_on_a_terminal():
        list(gguf_utils.tqdm(range(3), desc="Converting", file=log))
        list(gguf_utils.tqdm(range(3), desc="Converting", file=terminal))
    assert log.getvalue() == "" and "3/3" in terminal.getvalue()
    list(gguf_utils.tqdm(range(3), desc="Converting", file=log))  # outside, transformers' bar as it was
    assert "3/3" in log.getvalue()
