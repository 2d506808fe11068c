"""Training: the LightningModule that fine-tunes a causal LM with an adapter method, and its schedule."""

from denselora.training.finetuner import FineTuner
from denselora.training.schedule import LearningRateSchedule, warmup_then_linear_decay

__all__ = ["FineTuner", "LearningRateSchedule", "warmup_then_linear_decay"]
