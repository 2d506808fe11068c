"""What the fine-tuner's default hooks read from the data module, beyond Lightning's data loaders.

:class:`~denselora.training.FineTuner` reads ``trainer.datamodule`` in three of its defaults, each declared
here as a protocol:

- :class:`ValidationGenerationData`: the validation loader that carries prompts to answer, and their gold
  answers (``val/accuracy``). A data module without it has loss-only validation loaders.
- :class:`EvaluationData`: the test sets that the default ``test`` (``evaluate_batch`` and
  ``summarise_evaluation``) generates for and scores.
- :class:`PredictionData`: the records that the default ``predict_step`` answers.

And one that :class:`~denselora.callbacks.ResumeCheck` reads: :class:`ResumableData`, the settings that decide
what a resumed run trains on.

:class:`~denselora.data.LLMAdaptersDataModule` implements all three. A data module of your own needs only
those whose hooks keep their defaults: a subclass that overrides ``evaluate_batch`` and
``summarise_evaluation`` needs no ``eval_sets``. A default hook that finds the attribute missing raises a
:class:`~denselora.errors.ConfigError` naming it (see :func:`required`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from denselora.errors import ConfigError

if TYPE_CHECKING:
    from denselora.data.eval_sets import EvalSet, PredictSet, ScoredPrompts

__all__ = ["EvaluationData", "PredictionData", "ResumableData", "ValidationGenerationData", "required"]


@runtime_checkable
class ValidationGenerationData(Protocol):
    """Validation that also generates answers and scores them, read by ``FineTuner.validation_step``.

    Attributes:
        val_prompts: the prompts, gold answers and answer rules (``tasks``) of the validation records to
            answer; a batch's ``index`` holds positions in it.
    """

    val_prompts: ScoredPrompts | None

    @property
    def val_generation_dataloader_idx(self) -> int | None:
        """The position, among the validation loaders, of the one whose batches are prompts to answer
        (``{"input_ids", "attention_mask"}`` left-padded, ``"index"``); ``None``: every loader is scored by
        its loss."""
        ...


@runtime_checkable
class EvaluationData(Protocol):
    """The test sets, read by the default evaluation (``FineTuner.evaluate_batch``, ``summarise_evaluation``).

    Attributes:
        eval_sets: one set per test loader, in the loaders' order (``dataloader_idx`` is a position in it);
            a batch's ``index`` holds positions in its set.
    """

    eval_sets: Sequence[EvalSet] | None


@runtime_checkable
class PredictionData(Protocol):
    """The records to answer, read by ``FineTuner.predict_step`` and by
    :class:`~denselora.callbacks.PredictionWriter` (the file's name and the source's path).

    Attributes:
        predict_set: the records, in file order; a batch's ``index`` holds positions in it.
    """

    predict_set: PredictSet | None


@runtime_checkable
class ResumableData(Protocol):
    """Data whose settings a resumed run compares with the checkpoint's (:class:`~denselora.callbacks.ResumeCheck`)."""

    def resume_settings(self) -> dict[str, Any]:
        """The settings that decide which examples each step sees, in which order and how they are tokenized,
        as plain values keyed for messages (``"data.train_file"``, ``"training records"``, ...); those known only
        after ``setup`` are left out before it."""
        ...


def required(datamodule: object | None, name: str, protocol: type, reader: str, instead: str) -> Any:
    """``datamodule.<name>``, which a default hook reads, or an error that says what to do.

    Args:
        datamodule: the trainer's data module (``None`` when the trainer was given data loaders).
        name: the attribute, one of ``protocol``'s.
        protocol: the protocol of this module that declares it.
        reader: what reads it, for the message, e.g. ``"FineTuner's default predict_step"``.
        instead: the other way out, for the message, e.g. ``"override predict_step in a subclass"``.

    Returns:
        The attribute's value.

    Raises:
        ConfigError: the data module is missing, lacks the attribute, or it is still ``None``.
    """
    value = getattr(datamodule, name, None)
    if value is not None:
        return value
    if datamodule is None:
        which = "the trainer has no data module (it was given data loaders)"
    else:
        which = f"{type(datamodule).__name__} has none (or it is None)"
    raise ConfigError(
        f"{reader} needs the data module's {name!r} ({protocol.__module__}.{protocol.__qualname__}), but {which}; "
        f"give the data module that attribute, or {instead}"
    )
