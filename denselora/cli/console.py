"""What every command sets up about its output before it starts."""

from __future__ import annotations

import sys

import datasets
from transformers.utils import logging as transformers_logging

from denselora.cli.threads import share_busy_cores

__all__ = ["prepare_console"]


def prepare_console(computes: bool = True) -> None:
    """Without a terminal on standard error, no bars from datasets or transformers ("Generating train split",
    "Loading weights", "Writing model shards"): redrawn into a log file, a bar is one unreadable line, and the
    project's own progress is plain lines there. A command that ``computes`` takes fewer threads on a busy machine
    (:func:`~denselora.cli.threads.share_busy_cores`)."""
    if not sys.stderr.isatty():
        datasets.disable_progress_bars()
        transformers_logging.disable_progress_bar()
    if computes:
        share_busy_cores()
