"""Target names that select no layer: refused by default, skipped on request, by DenseLoRA and PEFT alike."""

import pytest
import torch
import yaml
from transformers import (
    GemmaConfig,
    GemmaForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from denselora import DenseLoRAConfig, adapted_layers, apply_denselora, load_adapter, save_adapter
from denselora.errors import ConfigError
from denselora.methods import DoRA, LoRA, VeRA
from denselora.methods.targets import LLAMA_TARGETS as PAPER_TARGETS
from tests.conftest import LLAMA_TARGETS, REPO

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=64)
BUILDERS = {
    "llama": lambda: LlamaForCausalLM(LlamaConfig(num_key_value_heads=2, **TINY)),
    "qwen2": lambda: Qwen2ForCausalLM(Qwen2Config(num_key_value_heads=2, **TINY)),
    "mistral": lambda: MistralForCausalLM(MistralConfig(num_key_value_heads=2, **TINY)),
    "gemma": lambda: GemmaForCausalLM(GemmaConfig(num_key_value_heads=2, head_dim=8, **TINY)),
    "phi3": lambda: Phi3ForCausalLM(Phi3Config(pad_token_id=0, **TINY)),
    "opt": lambda: OPTForCausalLM(
        OPTConfig(
            hidden_size=32,
            ffn_dim=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            vocab_size=64,
            word_embed_proj_dim=32,
        )
    ),
    "gpt2": lambda: GPT2LMHeadModel(
        GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=64, bos_token_id=0, eos_token_id=0)
    ),
}
# With the README's targets (q, k, v, up, down): the names each model lacks, and the linear layer names it has.
MISSING = {
    "phi3": (["q_proj", "k_proj", "v_proj", "up_proj"], "o_proj, qkv_proj, gate_up_proj, down_proj, lm_head"),
    "opt": (["up_proj", "down_proj"], "k_proj, v_proj, q_proj, out_proj, fc1, fc2, lm_head"),
    "gpt2": (LLAMA_TARGETS, "lm_head"),
}
# What missing_targets="ignore" adapts with the README's targets.
IGNORED = {"phi3": ["down_proj"], "opt": ["q_proj", "k_proj", "v_proj"]}


def _build(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return BUILDERS[arch]().eval()


def _peft_adapted_names(model: torch.nn.Module) -> set[str]:
    return {name.rpartition(".")[2] for name, m in model.named_modules() if hasattr(m, "lora_A") and m.lora_A}


@pytest.mark.parametrize("arch", BUILDERS)
def test_readme_targets_match_every_name_or_are_refused_naming_them(arch):
    model = _build(arch)
    if arch not in MISSING:
        apply_denselora(model, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
        assert {p.rpartition(".")[2] for p in adapted_layers(model)} == set(LLAMA_TARGETS)
        return
    missing, have = MISSING[arch]
    with pytest.raises(ConfigError) as err:
        apply_denselora(model, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
    message = str(err.value)
    assert f"target_modules {', '.join(missing)} match no nn.Linear layer of this {type(model).__name__}" in message
    assert f"its nn.Linear layers are named {have}." in message
    assert not adapted_layers(model) and all(p.requires_grad for p in model.parameters())  # nothing half-applied
    if arch in IGNORED:
        assert f"set missing_targets: ignore to adapt only the names that match ({', '.join(IGNORED[arch])})" in message


@pytest.mark.parametrize("arch", sorted(IGNORED))
def test_ignore_adapts_the_names_that_match(arch):
    model = _build(arch)
    ids = torch.randint(0, 64, (2, 6))
    with torch.no_grad():
        before = model(ids).logits
    apply_denselora(model, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS, missing_targets="ignore"))
    assert {p.rpartition(".")[2] for p in adapted_layers(model)} == set(IGNORED[arch])
    assert set(model.denselora) == set(IGNORED[arch])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, before)  # the decoders start at zero


def test_an_adapter_trained_with_ignore_loads_into_a_fresh_model(tmp_path):
    # The saved layer list decides what loads; the names that matched nothing in training must not refuse it.
    trained = apply_denselora(
        _build("phi3"), DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS, missing_targets="ignore")
    )
    save_adapter(trained, tmp_path)
    fresh = load_adapter(_build("phi3"), tmp_path)
    assert {p.rpartition(".")[2] for p in adapted_layers(fresh)} == {"down_proj"}


def test_gpt2_conv1d_is_refused_saying_what_to_do():
    with pytest.raises(ConfigError) as err:
        apply_denselora(_build("gpt2"), DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
    assert "Its layers c_attn, c_proj, c_fc are transformers Conv1D" in str(err.value)
    assert "denselora.methods.LoRA, DoRA or VeRA" in str(err.value)
    # Named directly, and with "ignore" when nothing else matches, it is refused too.
    with pytest.raises(
        ConfigError, match=r"selects 'transformer\.h\.0\.attn\.c_attn', a transformers Conv1D.*weight\.T"
    ):
        apply_denselora(_build("gpt2"), DenseLoRAConfig(r=4, target_modules=["c_attn"]))
    with pytest.raises(ConfigError, match=r"match no nn\.Linear layer"):
        apply_denselora(_build("gpt2"), DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS, missing_targets="ignore"))


def test_a_regex_that_selects_nothing_is_refused_whatever_missing_targets_says(tiny_llama):
    for missing_targets in ("error", "ignore"):
        with pytest.raises(ConfigError, match=r"target_modules regex '.\*qkv_proj' matches no nn\.Linear layer"):
            apply_denselora(tiny_llama, DenseLoRAConfig(target_modules=".*qkv_proj", missing_targets=missing_targets))


def test_missing_targets_is_checked_and_recorded():
    with pytest.raises(ConfigError, match=r"missing_targets must be one of \['error', 'ignore'\], got 'skip'"):
        DenseLoRAConfig(missing_targets="skip")
    assert DenseLoRAConfig().to_dict()["missing_targets"] == "error"
    with pytest.raises(ConfigError, match=r"LoRA\.missing_targets must be one of"):
        LoRA(missing_targets="skip")


@pytest.mark.parametrize("arch", BUILDERS)
def test_peft_lora_follows_the_same_rule(arch):
    model = _build(arch)
    if arch not in MISSING:
        model = LoRA(r=4).apply(model)
        assert _peft_adapted_names(model) == set(LLAMA_TARGETS)
        return
    missing, have = MISSING[arch]
    if arch == "gpt2":  # PEFT adapts GPT-2's Conv1D layers, so they count as linear layers here
        have = "c_attn, c_proj, c_fc, lm_head"
    with pytest.raises(ConfigError) as err:
        LoRA(r=4).apply(model)
    kind = "linear (nn.Linear or Conv1D)"
    assert f"LoRA target_modules {', '.join(missing)} match no {kind} layer of this {type(model).__name__}; " in str(
        err.value
    )
    assert f"its {kind} layers are named {have}." in str(err.value)
    if arch in IGNORED:
        model = LoRA(r=4, missing_targets="ignore").apply(_build(arch))
        assert _peft_adapted_names(model) == set(IGNORED[arch])


@pytest.mark.parametrize("method", [LoRA, DoRA, VeRA])
def test_peft_targets_are_checked_before_peft_is_called(method, monkeypatch):
    import peft

    def refuse(*args, **kwargs):
        raise AssertionError("PEFT was called with targets that match nothing")

    monkeypatch.setattr(peft, "get_peft_model", refuse)
    with pytest.raises(ConfigError, match=f"{method.__name__} target_modules q_proj, k_proj, v_proj, up_proj match"):
        method(r=4).apply(_build("phi3"))


def test_peft_adapts_gpt2_conv1d_layers_by_name():
    model = LoRA(r=4, target_modules=["c_attn", "c_fc"]).apply(_build("gpt2"))
    assert _peft_adapted_names(model) == {"c_attn", "c_fc"}


def test_every_method_defaults_to_the_papers_llama_targets_as_the_recipes_spell_them():
    assert LLAMA_TARGETS == list(PAPER_TARGETS) == ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]
    for method in (DenseLoRAConfig(), LoRA(), DoRA(), VeRA()):
        assert method.target_modules == LLAMA_TARGETS, type(method).__name__
    # YAML cannot name the constant; the recipes repeat it.
    for recipe in ("commonsense", "math", "baselines/lora", "baselines/dora", "baselines/vera"):
        config = yaml.safe_load((REPO / "lightning_configs" / f"{recipe}.yaml").read_text())
        assert config["model"]["init_args"]["adapter"]["init_args"]["target_modules"] == LLAMA_TARGETS, recipe
