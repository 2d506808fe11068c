"""The benchmark scripts run end to end (on the tiny shape) and report every variant against the base."""

import pytest
import torch

from benchmarks import decode, train_step
from benchmarks.common import GPU_VARIANTS, VARIANTS, default_variants
from benchmarks.train_step import loss_of
from tests.conftest import build_tiny_llama


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--gradient-checkpointing", "--batch", "1", "--dtype", "bfloat16"],
        ["--answer-tokens", "3", "--variants", "base", "lora", "denselora", "--profile"],
    ],
)
def test_train_step_table(capsys, extra):
    results = train_step.main(
        ["--shape", "tiny", "--device", "cpu", "--rounds", "2", "--repeats", "1", "--seq", "16", *extra]
    )
    defaults = default_variants(torch.device("cpu"))
    assert list(results) == (defaults if "--variants" not in extra else ["base", "lora", "denselora"])
    table = capsys.readouterr().out
    assert "| base | " in table and "| 1.000 |" in table
    saved = {name: m.saved_bytes for name, m in results.items()}
    if not extra:
        # The fused layer keeps r-wide tensors only: less than the plain autograd reference keeps. (With
        # checkpointing, both keep only the blocks' inputs.)
        assert saved["denselora"] < saved["denselora-reference"]
    assert all(len(m.seconds) == 2 and min(m.seconds) > 0 for m in results.values())
    if "--profile" in extra:
        assert "share of one step's operator time" in table
        for m in results.values():
            assert sum(m.shares.values()) == pytest.approx(1.0)
            assert m.shares["attention"] > 0 and m.shares["LM head"] > 0 and m.shares["other matrix products"] > 0


def test_decode_table(capsys):
    results = decode.main(["--shape", "tiny", "--device", "cpu", "--rounds", "2", "--new-tokens", "4", "--prompt", "8"])
    assert list(results) == default_variants(torch.device("cpu"))
    assert "ms per token" in capsys.readouterr().out


def test_the_triton_variant_is_compared_by_default_on_a_gpu_only():
    assert default_variants(torch.device("cuda")) == list(VARIANTS)
    assert default_variants(torch.device("cpu")) == [name for name in VARIANTS if name not in GPU_VARIANTS]


def test_the_triton_variant_runs_its_kernels(capsys):
    """On a CPU in Triton's interpreter (set by the test run): its time says nothing, its wiring is checked."""
    pytest.importorskip("triton")
    from denselora import adapted_layers
    from denselora.methods.denselora import triton_kernels

    if not torch.cuda.is_available() and not triton_kernels.interpreting():
        pytest.skip("no GPU, and Triton was imported before TRITON_INTERPRET=1 was set")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = train_step.main(
        ["--shape", "tiny", "--device", device, "--rounds", "1", "--repeats", "1", "--seq", "8", "--batch", "1",
         "--variants", "base", "denselora-triton"]
    )  # fmt: skip
    assert list(results) == ["base", "denselora-triton"]
    assert "| denselora-triton | " in capsys.readouterr().out
    from benchmarks.common import base_model, build_variants

    model = build_variants(base_model("tiny", torch.device("cpu"), torch.float32, 0), ["denselora-triton"], 4, 0.05)
    assert {layer.kernel for layer in adapted_layers(model["denselora-triton"]).values()} == {"triton"}


def test_answer_tokens_learn_only_the_last_tokens():
    model = build_tiny_llama(dtype=torch.float64)
    input_ids = torch.randint(0, 128, (2, 9), generator=torch.Generator().manual_seed(0))
    labels = input_ids.clone()
    labels[:, :-3] = -100  # three tokens learned per row
    expected = model(input_ids=input_ids, labels=labels).loss
    torch.testing.assert_close(loss_of(model, input_ids, 3), expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(loss_of(model, input_ids, 0), model(input_ids=input_ids, labels=input_ids).loss)


def test_scoring_table(capsys, quickstart_root, tmp_path):
    from benchmarks import scoring
    from denselora.models import load_tokenizer

    tokenizer = load_tokenizer("denselora/tiny")
    build_tiny_llama(vocab_size=len(tokenizer), max_position_embeddings=256).save_pretrained(tmp_path / "model")
    rates = scoring.main(
        ["--model", str(tmp_path / "model"), "--tokenizer", "denselora/tiny", "--data-dir", str(quickstart_root),
         "--dataset", "synth_choice", "--items", "4", "--batch", "4", "--rounds", "2"]
    )  # fmt: skip
    assert list(rates) == ["likelihood", "greedy", "4 beams"]
    assert all(len(values) == 2 and min(values) > 0 for values in rates.values())
    table = capsys.readouterr().out
    assert "| likelihood | " in table and "| 1.00x |" in table and "| 4 beams |" in table


def test_the_gpu_round_script_parses_and_names_existing_commands():
    import re
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_round.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    modules = set(re.findall(r"python -m (benchmarks\.\w+)", script.read_text()))
    assert modules == {"benchmarks.train_step", "benchmarks.decode"}
