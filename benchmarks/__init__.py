"""Speed and memory benchmarks: DenseLoRA against the frozen base model and PEFT LoRA, in one process."""
