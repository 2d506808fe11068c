import copy

import pytest
import torch
from safetensors.torch import save
from torch import nn
from transformers import (
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from benchmarks.common import SHAPES
from denselora import (
    DenseLoRAConfig,
    DenseLoRALinear,
    adapted_layers,
    apply_denselora,
    get_adapter_params,
    parameter_report,
)
from tests.conftest import LLAMA_TARGETS, build_tiny_llama

R16 = DenseLoRAConfig(r=16, alpha=32, dropout=0.05, target_modules=LLAMA_TARGETS)


def _meta_llama(**config) -> LlamaForCausalLM:
    with torch.device("meta"):
        return LlamaForCausalLM(LlamaConfig(tie_word_embeddings=False, **config))


LLAMA2_7B = dict(
    hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, vocab_size=32000
)
# The benchmarks' shape: the counts below also check that it is Meta-Llama-3-8B's.
LLAMA3_8B = SHAPES["llama3-8b"]


def _formula(layers, shapes, r):
    """Paper Sec. 3.2, per target name: DenseLoRA (d + k + l r) r, LoRA l (d + k) r."""
    return (
        sum((d + k + layers * r) * r for d, k in shapes),
        sum(layers * (d + k) * r for d, k in shapes),
    )


@pytest.mark.parametrize(
    "shape, base_total, denselora, lora",
    [
        # The paper's Sec. 3.2 formulas, per target name (q, k, v, up, down, r = 16); the paper rounds them to
        # 0.9M (DenseLoRA) and 28M (LoRA) for LLaMA2-7B.
        (LLAMA2_7B, 6_738_415_616, 917_504, 28_049_408),
        (LLAMA3_8B, 8_030_261_248, 925_696, 28_311_552),
    ],
    ids=["llama2-7b", "llama3-8b"],
)
def test_paper_counts_on_meta_device(shape, base_total, denselora, lora):
    model = _meta_llama(**shape)
    assert sum(p.numel() for p in model.parameters()) == base_total
    apply_denselora(model, R16)
    report = parameter_report(model)
    assert (report.trainable, report.adapter, report.lora) == (denselora, denselora, lora)
    assert report.total == base_total + denselora
    h, f = shape["hidden_size"], shape["intermediate_size"]
    kv = h // shape["num_attention_heads"] * shape.get("num_key_value_heads", shape["num_attention_heads"])
    assert (denselora, lora) == _formula(32, [(h, h), (kv, h), (kv, h), (f, h), (h, f)], 16)
    assert all(p.device.type == "meta" for p in model.parameters())


def test_llama3_8b_share_and_table():
    report = parameter_report(apply_denselora(_meta_llama(**LLAMA3_8B), R16))
    assert f"{report.percent:.4f}" == "0.0115"
    rows = {row.name: row for row in report.targets}
    assert list(rows) == LLAMA_TARGETS
    assert (rows["k_proj"].out_features, rows["k_proj"].in_features, rows["k_proj"].layers) == (1024, 4096, 32)
    assert rows["up_proj"].denselora == (14336 + 4096 + 32 * 16) * 16
    text = str(report)
    assert "925,696" in text and "28,311,552" in text and "| k_proj | 32 | 1024 x 4096 |" in text


def test_shared_tensors_exist_once(tiny_llama):
    model = apply_denselora(tiny_llama, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
    layers = adapted_layers(model)
    assert len(layers) == 2 * 5
    for path, layer in layers.items():
        pair = model.denselora[path.rpartition(".")[2]]
        assert layer.encoder_decoder is pair
    q0, q1 = (model.model.layers[i].self_attn.q_proj for i in range(2))
    assert q0.encoder_decoder.encoder.data_ptr() == q1.encoder_decoder.encoder.data_ptr()
    assert q0.M.data_ptr() != q1.M.data_ptr()

    state = model.state_dict()
    names = dict(model.named_parameters())
    assert set(state) == set(names)  # no aliases: state_dict lists each tensor once, as parameters() does
    assert sorted(k for k in state if k.startswith("denselora.")) == sorted(
        f"denselora.{t}.{w}" for t in LLAMA_TARGETS for w in ("encoder", "decoder")
    )
    assert sum(t.numel() for t in state.values()) == sum(p.numel() for p in model.parameters())
    adapter = get_adapter_params(model)
    assert len(adapter) == len({id(p) for p in adapter.values()}) == 5 * 2 + 10
    assert save({k: v.contiguous() for k, v in state.items()})  # safetensors refuses tensors that share memory


def test_deepcopy_keeps_one_shared_pair_per_group(tiny_llama, input_ids):
    model = apply_denselora(tiny_llama, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
    clone = copy.deepcopy(model)
    assert clone.model.layers[1].mlp.up_proj.encoder_decoder is clone.denselora["up_proj"]
    assert clone.denselora["up_proj"] is not model.denselora["up_proj"]
    with torch.no_grad():
        clone.denselora["up_proj"].decoder.fill_(0.1)
        assert not torch.equal(clone(input_ids).logits, model(input_ids).logits)


def test_base_is_frozen_and_modes_kept(tiny_llama):
    for p in tiny_llama.parameters():
        p.requires_grad_(True)
    model = apply_denselora(tiny_llama, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
    adapter = {id(p) for p in get_adapter_params(model).values()}
    assert all(p.requires_grad == (id(p) in adapter) for p in model.parameters())
    assert not any(m.training for m in model.modules())  # the model was in eval mode; new modules follow it


def test_initialisation_is_reproducible_from_the_seed():
    def adapted(seed):
        model = build_tiny_llama()
        torch.manual_seed(seed)
        return get_adapter_params(apply_denselora(model, DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS)))

    a, b, c = adapted(1), adapted(1), adapted(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["model.layers.0.self_attn.q_proj.M"], c["model.layers.0.self_attn.q_proj.M"])
    assert all(not v.any() for k, v in a.items() if k.endswith(".decoder"))


def test_kaiming_bounds_of_the_initialisation(tiny_llama):
    model = apply_denselora(tiny_llama, DenseLoRAConfig(r=8, target_modules=LLAMA_TARGETS))
    pair = model.denselora["down_proj"]  # k = 160
    # kaiming_uniform(a=sqrt(5)) draws from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    assert pair.encoder.abs().max() <= 1 / 160**0.5 and pair.encoder.abs().max() > 0.9 / 160**0.5
    M = model.model.layers[0].mlp.down_proj.M
    assert M.abs().max() <= 1 / 8**0.5 and M.abs().max() > 0.7 / 8**0.5


def test_regex_targets(tiny_llama):
    model = apply_denselora(tiny_llama, DenseLoRAConfig(r=4, target_modules=r"model\.layers\.1\..*\.(q|v)_proj"))
    assert list(adapted_layers(model)) == ["model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"]


def test_per_layer_sharing_gives_every_layer_its_own_pair(tiny_llama):
    model = apply_denselora(tiny_llama, DenseLoRAConfig(r=4, target_modules=["q_proj"], sharing="layer"))
    q0, q1 = (model.model.layers[i].self_attn.q_proj for i in range(2))
    assert q0.encoder_decoder is not q1.encoder_decoder
    assert set(model.denselora) == {"model__layers__0__self_attn__q_proj", "model__layers__1__self_attn__q_proj"}
    assert parameter_report(model).adapter == 2 * (64 + 64 + 4) * 4


def test_a_name_with_two_shapes_gets_one_pair_per_shape():
    class Block(nn.Module):
        def __init__(self, k, d):
            super().__init__()
            self.dense = nn.Linear(k, d)

    model = nn.Sequential(Block(8, 16), Block(16, 8), Block(8, 16))
    apply_denselora(model, DenseLoRAConfig(r=2, target_modules=["dense"]))
    assert set(model.denselora) == {"dense_16x8", "dense_8x16"}
    assert model[0].dense.encoder_decoder is model[2].dense.encoder_decoder
    assert [row.name for row in parameter_report(model).targets] == ["dense (16x8)", "dense (8x16)"]


TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=64)


@pytest.mark.parametrize(
    "build, targets",
    [
        (lambda: MistralForCausalLM(MistralConfig(num_key_value_heads=2, **TINY)), LLAMA_TARGETS),
        (lambda: Qwen2ForCausalLM(Qwen2Config(num_key_value_heads=2, **TINY)), LLAMA_TARGETS),  # q/k/v have bias
        (
            lambda: GPTNeoXForCausalLM(
                GPTNeoXConfig(
                    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=64
                )
            ),
            ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
        ),
    ],
    ids=["mistral", "qwen2", "gpt-neox"],
)
def test_other_architectures(build, targets):
    torch.manual_seed(0)
    model = build().eval()
    ids = torch.randint(0, 64, (2, 10))
    with torch.no_grad():
        before = model(ids).logits
    apply_denselora(model, DenseLoRAConfig(r=4, target_modules=targets))
    assert {p.rpartition(".")[2] for p in adapted_layers(model)} == set(targets)
    with torch.no_grad():
        assert torch.equal(model(ids).logits, before)
        for pair in model.denselora.values():
            pair.decoder.normal_()
        assert not torch.allclose(model(ids).logits, before)


def test_targets_matching_nothing_list_the_linear_layers(tiny_llama):
    with pytest.raises(ValueError) as err:
        apply_denselora(tiny_llama, DenseLoRAConfig(target_modules=["query", "value"]))
    message = str(err.value)
    assert "target_modules query, value match no nn.Linear layer of this LlamaForCausalLM" in message
    assert "named q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head." in message


def test_a_target_that_is_not_linear_is_refused(tiny_llama):
    with pytest.raises(ValueError, match=r"selects 'model.layers.0.self_attn', a LlamaAttention.*nn.Linear"):
        apply_denselora(tiny_llama, DenseLoRAConfig(target_modules=["self_attn"]))


def test_a_customised_linear_is_refused():
    class Quantized(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    with pytest.raises(ValueError, match=r"Quantized, a subclass of nn\.Linear with its own forward"):
        apply_denselora(nn.Sequential(Quantized(4, 4)), DenseLoRAConfig(r=2, target_modules=["0"]))


def test_rank_larger_than_a_layer_is_refused(tiny_llama):
    # k_proj maps 64 -> 32 in the tiny LLaMA.
    with pytest.raises(ValueError, match=r"r=48 is larger than layer 'model.layers.0.self_attn.k_proj'.*at most 32"):
        apply_denselora(tiny_llama, DenseLoRAConfig(r=48, target_modules=LLAMA_TARGETS))
    assert not any(isinstance(m, DenseLoRALinear) for m in tiny_llama.modules())  # nothing half-applied


def test_applying_twice_is_refused(tiny_llama):
    apply_denselora(tiny_llama, DenseLoRAConfig(r=4, target_modules=["q_proj"]))
    with pytest.raises(ValueError, match="already has DenseLoRA adapters"):
        apply_denselora(tiny_llama, DenseLoRAConfig(r=4, target_modules=["v_proj"]))
