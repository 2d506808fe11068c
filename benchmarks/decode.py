"""Decoding benchmark: time per generated token, batch 1, DenseLoRA against the frozen base and PEFT LoRA.

    python -m benchmarks.decode                       # CPU-sized LLaMA
    python -m benchmarks.decode --shape llama3-8b     # on a GPU

Greedy decoding with Hugging Face ``generate`` (KV cache on), the way the evaluation decodes; every variant
generates exactly ``--new-tokens`` tokens after the same prompt. Adapters stay unmerged: a GELU adapter
cannot be merged, and LoRA is compared the same way. Prints the median time per token, and ratios.
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.common import add_common_arguments, device_name, interleaved, print_report, setup


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--prompt", type=int, default=32, help="prompt tokens (default 32)")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens generated per call (default 64)")
    args = parser.parse_args(argv)

    device, dtype, base, models = setup(args)
    generator = torch.Generator().manual_seed(args.seed)
    prompt = torch.randint(0, base.config.vocab_size, (1, args.prompt), generator=generator).to(device)

    def make_step(model):
        def step():
            with torch.inference_mode():
                out = model.generate(
                    input_ids=prompt,
                    attention_mask=torch.ones_like(prompt),
                    max_new_tokens=args.new_tokens,
                    min_new_tokens=args.new_tokens,
                    do_sample=False,
                    pad_token_id=0,
                )
            assert out.shape[1] == args.prompt + args.new_tokens

        return step

    steps = {name: make_step(model.eval()) for name, model in models.items()}
    results = interleaved(steps, args.rounds, device)
    for measurement in results.values():
        measurement.seconds = [s / args.new_tokens for s in measurement.seconds]
    title = (
        f"decoding, {args.shape} shape, batch 1, prompt {args.prompt} + {args.new_tokens} new tokens (greedy, "
        f"KV cache), {dtype}, r={args.rank}, {args.rounds} rounds, on {device_name(device)}"
    )
    print_report(title, results, "ms per token", 1e3)
    return results


if __name__ == "__main__":
    main()
