"""Training-step benchmark: forward + backward of DenseLoRA, PEFT LoRA and the frozen base, interleaved.

    python -m benchmarks.train_step                         # CPU-sized LLaMA, micro-batch 4 x 128
    python -m benchmarks.train_step --shape llama3-8b --batch 16 --seq 256      # on a GPU
    python -m benchmarks.train_step --gradient-checkpointing
    python -m benchmarks.train_step --shape smollm2-135m --batch 8 --seq 112 --answer-tokens 10   # the real recipe
    python -m benchmarks.train_step --shape smollm2-135m --batch 8 --seq 112 --answer-tokens 10 --profile

One step is what a fine-tuning step costs besides the optimizer (which updates ~0.01 % of the parameters):
forward, cross-entropy loss, backward. The frozen base runs backward to its input embeddings, the floor any
adapter pays. Prints the median step time per variant, its ratio to the frozen base and to PEFT LoRA, and
memory: on a GPU the peak allocated, everywhere the activations autograd saved for backward. ``--profile``
adds where one step's operator time goes: attention, the LM head, the other matrix products, the rest.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from torch import nn

from benchmarks.common import add_common_arguments, device_name, interleaved, print_report, setup


def make_step(model: nn.Module, input_ids: torch.Tensor, answer_tokens: int = 0) -> Callable[[], None]:
    def step() -> None:
        for param in model.parameters():
            param.grad = None
        loss_of(model, input_ids, answer_tokens).backward()

    return step


def loss_of(model: nn.Module, input_ids: torch.Tensor, answer_tokens: int) -> torch.Tensor:
    """Every token learned (the model's own loss), or only the last ``answer_tokens`` of each sequence, as
    ``train_on_inputs: false`` learns an answer after its prompt, through the trainer's loss (the LM head at the
    learned positions only)."""
    if not answer_tokens:
        return model(input_ids=input_ids, labels=input_ids).loss
    from denselora.training.loss import causal_lm_loss

    labels = input_ids.clone()
    labels[:, :-answer_tokens] = -100
    return causal_lm_loss(model, input_ids, torch.ones_like(input_ids), labels)


def saved_for_backward(model: nn.Module, input_ids: torch.Tensor, answer_tokens: int = 0) -> int:
    """Bytes autograd keeps for one step's backward: every distinct storage, parameters excluded."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_of(model, input_ids, answer_tokens)
    loss.backward()
    return sum(storages.values())


def time_shares(model: nn.Module, step: Callable[[], None]) -> dict[str, float]:
    """Each part's share of one step's operator time (``torch.profiler``, self time of every operator).

    Attention is PyTorch's scaled-dot-product kernel, forward and backward; the LM head is every matrix product
    with a vocabulary-sized operand; "other matrix products" are the rest (the projections, the adapters).
    """
    from torch.profiler import ProfilerActivity, profile

    vocab = model.config.vocab_size
    activities = [ProfilerActivity.CUDA if torch.cuda.is_available() else ProfilerActivity.CPU]
    with profile(activities=activities, record_shapes=True) as prof:
        step()
    use_device = activities[0] == ProfilerActivity.CUDA
    parts = {"attention": 0.0, "LM head": 0.0, "other matrix products": 0.0, "everything else": 0.0}
    for event in prof.key_averages(group_by_input_shape=True):
        seconds = event.self_device_time_total if use_device else event.self_cpu_time_total
        if "scaled_dot_product" in event.key or "attention" in event.key:
            parts["attention"] += seconds
        elif event.key in ("aten::mm", "aten::addmm", "aten::addmm_", "aten::bmm", "aten::linear"):
            head = any(vocab in shape for shape in event.input_shapes if isinstance(shape, list))
            parts["LM head" if head else "other matrix products"] += seconds
        else:
            parts["everything else"] += seconds
    total = sum(parts.values())
    return {part: seconds / total for part, seconds in parts.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_step", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--batch", type=int, default=4, help="micro-batch size (default 4)")
    parser.add_argument("--seq", type=int, default=128, help="tokens per sequence (default 128)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument(
        "--answer-tokens",
        type=int,
        default=0,
        help="learn only the last N tokens of each sequence, through the trainer's loss (default 0: all tokens)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="steps per variant per round (default 2)")
    parser.add_argument("--profile", action="store_true", help="also print where each variant's step time goes")
    args = parser.parse_args(argv)

    device, dtype, base, models = setup(args)
    generator = torch.Generator().manual_seed(args.seed)
    input_ids = torch.randint(0, base.config.vocab_size, (args.batch, args.seq), generator=generator).to(device)
    steps = {}
    for name, model in models.items():
        # Every variant runs backward down to the input embeddings; the frozen base would skip it otherwise.
        model.enable_input_require_grads()
        if args.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        steps[name] = make_step(model, input_ids, args.answer_tokens)

    results = interleaved(steps, args.rounds, device, repeats=args.repeats)
    for name, model in models.items():
        # Counted after timing, in a step of its own: the hooks cost time.
        results[name].saved_bytes = saved_for_backward(model, input_ids, args.answer_tokens)
    title = (
        f"training step, {args.shape} shape, micro-batch {args.batch} x {args.seq}, "
        f"{f'the last {args.answer_tokens} tokens' if args.answer_tokens else 'every token'} learned, {dtype}, "
        f"r={args.rank}, "
        f"dropout {args.dropout}, gradient checkpointing {'on' if args.gradient_checkpointing else 'off'}, "
        f"{args.rounds} rounds x {args.repeats} steps, on {device_name(device)}"
    )
    print_report(title, results, "ms", 1e3)
    if args.profile:
        shares = {name: time_shares(model, steps[name]) for name, model in models.items()}
        parts = list(next(iter(shares.values())))
        print("\nshare of one step's operator time (torch.profiler, self time)")
        print("| variant | " + " | ".join(parts) + " |")
        print("|---|" + "---:|" * len(parts))
        for name, share in shares.items():
            print(f"| {name} | " + " | ".join(f"{100 * share[part]:.1f} %" for part in parts) + " |")
        for name, share in shares.items():
            results[name].shares = share
    return results


if __name__ == "__main__":
    main()
