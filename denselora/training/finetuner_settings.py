"""The checks on a :class:`~denselora.training.FineTuner`'s settings, made when it is built, before any weight loads."""

from __future__ import annotations

from denselora.dtypes import DTYPES
from denselora.errors import ConfigError
from denselora.evaluation.evaluator import SCORING_MODES

__all__ = ["check_finetuner_settings"]


def check_finetuner_settings(
    dtype: str | None,
    learning_rate: float,
    weight_decay: float,
    warmup_steps: int,
    num_beams: int,
    max_new_tokens: int | None,
    scoring: str,
) -> None:
    """Refuse settings no run could use (the arguments are :class:`~denselora.training.FineTuner`'s).

    Raises:
        ConfigError: naming the setting as a config names it (``model.<name>``), what it must be and what it is.
    """
    if dtype is not None and dtype not in DTYPES:
        raise ConfigError(f"model.dtype must be one of {sorted(DTYPES)} or null, got {dtype!r}")
    if learning_rate <= 0 or weight_decay < 0 or warmup_steps < 0:
        raise ConfigError(
            "model.learning_rate must be > 0 and model.weight_decay, model.warmup_steps >= 0; got "
            f"{learning_rate}, {weight_decay}, {warmup_steps}"
        )
    if num_beams < 1:
        raise ConfigError(f"model.num_beams must be at least 1, got {num_beams}")
    if max_new_tokens is not None and max_new_tokens < 1:
        raise ConfigError(
            f"model.max_new_tokens must be at least 1, or null for each task's own budget; got {max_new_tokens}"
        )
    if scoring not in SCORING_MODES:
        raise ConfigError(f"model.scoring must be one of {', '.join(SCORING_MODES)}, got {scoring!r}")
