"""Training: the LightningModule that fine-tunes a causal LM with an adapter method."""

from denselora.training.finetuner import FineTuner

__all__ = ["FineTuner"]
