"""What the benchmarks share: model shapes, the variants compared, interleaved timing and the result table.

Every variant is built on the *same* base weight tensors (``load_state_dict(assign=True)``), so the process
holds one copy of the base model however many variants it compares; only the adapters are extra.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "GPU_VARIANTS",
    "SHAPES",
    "VARIANTS",
    "Measurement",
    "add_common_arguments",
    "build_variants",
    "default_variants",
    "device_name",
    "format_table",
    "interleaved",
    "print_report",
    "setup",
    "synchronize",
]

#: LLaMA shapes by name. ``cpu`` is small enough for a laptop; ``llama3-8b`` is Meta-Llama-3-8B's; ``tiny``
#: only checks that the scripts run.
SHAPES: dict[str, dict] = {
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=256,
    ),
    "cpu": dict(
        hidden_size=512,
        intermediate_size=1792,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=2,
        vocab_size=32000,
    ),
    "smollm2-135m": dict(  # SmolLM2-135M-Instruct, the real model of lightning_configs/smollm2_commonsense.yaml
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        vocab_size=49152,
        tie_word_embeddings=True,
    ),
    "llama3-8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        rope_theta=500000.0,
    ),
}

#: Variant name -> what it is, as printed under the table.
VARIANTS: dict[str, str] = {
    "base": "the frozen base model, no adapter",
    "lora": "PEFT LoRA, same rank and targets, dropout on the input",
    "denselora-reference": "DenseLoRA as the authors compute it: float32 adapter math, plain autograd ops, "
    "dropout on the input and after both activations",
    "denselora": "denselora's DenseLoRA layer at the paper's recipe (dropout at the authors' three places)",
    "denselora-input-dropout": "denselora's DenseLoRA layer with dropout on the input only",
    "denselora-triton": "denselora's DenseLoRA layer at the paper's recipe, computed by its Triton kernels "
    '(kernel="triton")',
}
#: Variants compared by default only on a GPU: Triton runs on a CPU only in its (slow) interpreter.
GPU_VARIANTS = ("denselora-triton",)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shape", choices=sorted(SHAPES), default="cpu", help="model shape (default: cpu)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--dtype",
        choices=["float32", "bfloat16"],
        default=None,
        help="base model dtype (default: bfloat16 on a GPU, float32 on a CPU)",
    )
    parser.add_argument("--rank", type=int, default=16, help="adapter rank r (LoRA uses the same)")
    parser.add_argument("--dropout", type=float, default=0.05, help="adapter dropout (the paper's 0.05)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians are over rounds")
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=None,
        help=f"what to compare (default: all; {', '.join(GPU_VARIANTS)} on a GPU only)",
    )
    parser.add_argument("--seed", type=int, default=0)


def setup(args: argparse.Namespace) -> tuple[torch.device, torch.dtype, nn.Module, dict[str, nn.Module]]:
    """The device, base dtype, base model and variants that the common arguments ask for."""
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    base = base_model(args.shape, device, dtype, args.seed)
    return device, dtype, base, build_variants(base, args.variants or default_variants(device), args.rank, args.dropout)


def default_variants(device: torch.device) -> list[str]:
    """Every variant on a GPU; on a CPU all but those Triton computes."""
    return [name for name in VARIANTS if device.type == "cuda" or name not in GPU_VARIANTS]


def print_report(title: str, results: dict[str, Measurement], unit: str, scale: float) -> None:
    """The title line, the table and what each variant is."""
    print(title)
    print(format_table(results, unit, scale))
    for name in results:
        print(f"  {name}: {VARIANTS[name]}")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def base_model(shape: str, device: torch.device, dtype: torch.dtype, seed: int) -> nn.Module:
    """A randomly initialised LLaMA of ``shape`` (random weights time exactly like trained ones)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**{"tie_word_embeddings": False, **SHAPES[shape]}, max_position_embeddings=4096)
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in the final dtype: an 8B model never exists in float32
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.requires_grad_(False)
    return model


def _same_weights(model: nn.Module) -> nn.Module:
    """A new model object whose parameters *are* ``model``'s tensors (no copy)."""
    with torch.device("meta"):
        twin = type(model)(model.config)
    twin.load_state_dict(model.state_dict(), assign=True)
    for name, buffer in model.named_buffers():  # non-persistent ones (rotary frequencies) are not in state_dict
        owner, _, attribute = name.rpartition(".")
        setattr(twin.get_submodule(owner), attribute, buffer)
    twin.requires_grad_(False)
    return twin


def build_variants(base: nn.Module, names: Sequence[str], rank: int, dropout: float) -> dict[str, nn.Module]:
    """The models compared, all on ``base``'s weight tensors, in training mode."""
    import denselora
    from denselora.methods.targets import LLAMA_TARGETS

    targets = list(LLAMA_TARGETS)  # the paper's, for LoRA and DenseLoRA alike
    models = {}
    for name in names:
        if name == "base":
            model = base
        elif name == "lora":
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=dropout, target_modules=targets)
            model = get_peft_model(_same_weights(base), config)
        else:
            options = {
                "denselora-reference": dict(fused=False, dtype="float32", dropout_sites="all"),
                "denselora": dict(dropout_sites="all"),
                "denselora-input-dropout": dict(dropout_sites="input"),
                "denselora-triton": dict(dropout_sites="all"),
            }[name]
            config = denselora.DenseLoRAConfig(
                r=rank, alpha=2 * rank, dropout=dropout, target_modules=targets, **options
            )
            model = denselora.apply_denselora(_same_weights(base), config)
            # A trained adapter, not the zero-decoder start: every branch of the update does real work.
            with torch.no_grad():
                for param in denselora.get_adapter_params(model).values():
                    param.normal_(0, 0.02)
            if name == "denselora-triton":
                for layer in denselora.adapted_layers(model).values():
                    layer.kernel = "triton"
        models[name] = model.to(next(base.parameters()).device).train()
    return models


@dataclass
class Measurement:
    """Per-variant samples of one quantity, one per round."""

    seconds: list[float]
    peak_bytes: list[int]
    saved_bytes: int | None = None
    shares: dict[str, float] | None = None  # where one step's time goes (train_step --profile)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def interleaved(
    steps: dict[str, Callable[[], object]],
    rounds: int,
    device: torch.device,
    repeats: int = 1,
) -> dict[str, Measurement]:
    """Time each ``steps[name]()`` in ``rounds`` rounds, all variants once per round, in a rotating order.

    After one warm-up call per variant, each round runs every variant ``repeats`` times back to back and
    records the mean time of one call; the rotation keeps any drift (clocks, caches, allocator) from favouring
    one position.
    """
    names = list(steps)
    for name in names:
        steps[name]()
    results = {name: Measurement([], []) for name in names}
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for name in order:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            synchronize(device)
            start = time.perf_counter()
            for _ in range(repeats):
                steps[name]()
            synchronize(device)
            results[name].seconds.append((time.perf_counter() - start) / repeats)
            if device.type == "cuda":
                results[name].peak_bytes.append(torch.cuda.max_memory_allocated(device))
    return results


def format_table(
    results: dict[str, Measurement],
    unit: str,
    scale: float,
) -> str:
    """A Markdown table: median time, ratios to the base and to PEFT LoRA, spread, and memory."""
    header = ["variant", f"median {unit}", "vs base", "vs PEFT LoRA", "min-max"]
    if any(m.saved_bytes is not None for m in results.values()):
        header.append("saved for backward")
    if any(m.peak_bytes for m in results.values()):
        header.append("peak memory")
    base = results["base"].median if "base" in results else None
    lora = results["lora"].median if "lora" in results else None
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, m in results.items():
        row = [
            name,
            f"{m.median * scale:.4g}",
            f"{m.median / base:.3f}" if base else "-",
            f"{m.median / lora:.3f}" if lora else "-",
            f"{min(m.seconds) * scale:.4g}-{max(m.seconds) * scale:.4g}",
        ]
        if "saved for backward" in header:
            row.append(f"{m.saved_bytes / 2**20:,.1f} MiB" if m.saved_bytes is not None else "-")
        if "peak memory" in header:
            row.append(f"{max(m.peak_bytes) / 2**30:.2f} GiB" if m.peak_bytes else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
