import pytest

from denselora import DenseLoRAConfig, apply_denselora
from denselora.methods import DenseLoRA, DoRA, LoRA, VeRA, find_tracked_matrices
from tests.conftest import LLAMA_TARGETS, build_tiny_llama


def test_denselora_layers_watch_the_whole_M():
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4))
    tracked = find_tracked_matrices(model, layers=[0, -1], targets=None)
    assert [m.key for m in tracked] == [f"layer{i}.{t}/M" for i in (0, 1) for t in LLAMA_TARGETS]
    first = tracked[0]
    assert (first.rows, first.cols, first.method) == ((0, 4), (0, 4), "denselora")
    assert first.parameter is model.model.layers[0].self_attn.q_proj.M
    assert first.window().shape == (4, 4) and first.window().device.type == "cpu"


def test_layer_and_target_selection():
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4))
    assert [m.key for m in find_tracked_matrices(model, layers=[-1], targets=["up_proj"])] == ["layer1.up_proj/M"]
    assert len(find_tracked_matrices(model, layers=None, targets=None)) == 2 * len(LLAMA_TARGETS)
    assert find_tracked_matrices(model, layers=[7]) == []


@pytest.mark.parametrize("method", [LoRA, DoRA])
def test_lora_layers_watch_seeded_r_by_r_slices_of_A_and_B(method):
    model = method(r=4).apply(build_tiny_llama())
    tracked = find_tracked_matrices(model, layers=[0], targets=["up_proj"], seed=0)
    a, b = tracked
    assert (a.key, b.key, a.method) == ("layer0.up_proj/A", "layer0.up_proj/B", "lora")
    assert a.window().shape == b.window().shape == (4, 4)
    assert a.rows == (0, 4) and 0 <= a.cols[0] <= 64 - 4  # A of up_proj is r x 64
    assert b.cols == (0, 4) and 0 <= b.rows[0] <= 160 - 4  # B of up_proj is 160 x r
    again = find_tracked_matrices(model, layers=[0], targets=["up_proj"], seed=0)
    assert [(m.rows, m.cols) for m in again] == [(m.rows, m.cols) for m in tracked]
    others = [find_tracked_matrices(model, layers=[0], targets=["up_proj"], seed=s)[0].cols for s in range(1, 6)]
    assert any(cols != a.cols for cols in others)


def test_vera_has_nothing_to_watch():
    model = VeRA(r=8).apply(build_tiny_llama())
    assert find_tracked_matrices(model, layers=None) == []


@pytest.mark.parametrize("method", [DenseLoRA(r=4), LoRA(r=4), DoRA(r=4), VeRA(r=8)], ids=lambda m: m.method)
def test_each_method_names_its_own_matrices_as_the_model_wide_search_finds_them(method):
    model = method.apply(build_tiny_llama())
    own = method.tracked_matrices(model, layers=None, seed=3)
    assert [(m.key, m.rows, m.cols) for m in own] == [
        (m.key, m.rows, m.cols) for m in find_tracked_matrices(model, layers=None, seed=3)
    ]
    assert (len(own) > 0) == (method.method != "vera")
    assert all(m.method == ("denselora" if method.method == "denselora" else "lora") for m in own)
