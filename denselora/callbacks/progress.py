"""Progress bars that name the test set being evaluated, instead of counting anonymous dataloaders."""

from __future__ import annotations

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar, TQDMProgressBar

__all__ = ["NamedRichProgressBar", "NamedTQDMProgressBar", "named_progress_bar"]


class _NamesTestSets:
    """``test_description`` is read when a new test dataloader starts: name its set when the data module has
    ``eval_sets`` (the test sets, one per dataloader, in order)."""

    @property
    def test_description(self) -> str:
        name = _test_set_name(self)
        return f"Testing {name}" if name else "Testing"


class NamedRichProgressBar(_NamesTestSets, RichProgressBar):
    """Lightning's rich progress bar, with the test set's name in the test bar."""


class NamedTQDMProgressBar(_NamesTestSets, TQDMProgressBar):
    """Lightning's tqdm progress bar, with the test set's name in the test bar."""


def named_progress_bar(default: ProgressBar) -> ProgressBar:
    """The named counterpart of a default Lightning progress bar (``default`` itself for any other kind)."""
    if type(default) is RichProgressBar:
        return NamedRichProgressBar()
    if type(default) is TQDMProgressBar:
        return NamedTQDMProgressBar()
    return default


def _test_set_name(bar: ProgressBar) -> str | None:
    index = getattr(bar, "_current_eval_dataloader_idx", None)
    trainer = getattr(bar, "_trainer", None)
    eval_sets = getattr(getattr(trainer, "datamodule", None), "eval_sets", None)
    if index is None or not eval_sets or index >= len(eval_sets):
        return None
    return getattr(eval_sets[index], "name", None)
