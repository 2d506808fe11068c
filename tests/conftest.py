"""Shared fixtures: tiny models built offline from configs, nothing downloaded."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]


def tiny_llama_config(**overrides) -> LlamaConfig:
    """A LLaMA small enough for CPU tests: k_proj/v_proj (GQA) differ in shape from q_proj, as in LLaMA-3."""
    values = dict(
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    values.update(overrides)
    return LlamaConfig(**values)


def build_tiny_llama(seed: int = 0, dtype: torch.dtype = torch.float32, **overrides) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(**overrides)).to(dtype).eval()


@pytest.fixture
def tiny_llama() -> LlamaForCausalLM:
    return build_tiny_llama()


@pytest.fixture
def input_ids() -> torch.Tensor:
    return torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))


def randomize_adapters(model: torch.nn.Module, seed: int = 0, std: float = 0.1) -> None:
    """Give every adapter tensor random values, so that the update is not the zero of initialisation."""
    from denselora import get_adapter_params

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in get_adapter_params(model).values():
            param.copy_(torch.randn(param.shape, generator=generator) * std)


@pytest.fixture(scope="session")
def density_runs(tmp_path_factory):
    """A DenseLoRA run (r=16) and a LoRA run (r=8) of the tiny model, each watched by the update-density
    callback every 3 of its 6 steps on q_proj and down_proj of the first and last block, then evaluated:
    ``{"denselora": run directory, "lora": run directory}``.
    """
    import json

    from tests.training.cli_runs import REPO, run, tiny_run_args

    root = tmp_path_factory.mktemp("density-runs")
    monitor = json.dumps(
        {
            "class_path": "denselora.callbacks.UpdateDensityMonitor",
            "init_args": {"every_n_steps": 3, "layers": [0, -1], "targets": ["q_proj", "down_proj"]},
        }
    )
    evaluate = ("--model.init_args.test_after_fit", "true", "--data.init_args.test_size", "2")
    common = ("--trainer.callbacks+", monitor, *evaluate)
    run(tiny_run_args(root, *common))
    lora = REPO / "lightning_configs" / "baselines" / "lora.yaml"
    run(tiny_run_args(root, "--config", str(lora), "--model.init_args.adapter.init_args.r", "8", *common))
    return {
        "denselora": root / "runs" / "quickstart" / "version_0",
        "lora": root / "runs" / "lora" / "version_0",
    }
