"""Progress of a long loop outside the trainer: a bar on a terminal, plain lines in a log file."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from tqdm.auto import tqdm

__all__ = ["StepProgress", "clock"]


def clock(seconds: float) -> str:
    """``seconds`` as ``h:mm:ss``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class StepProgress:
    """Counts the steps of a loop, as a ``tqdm`` bar when ``stream`` is a terminal and otherwise as plain lines.

    A bar redrawn in place writes nothing readable to a file (``nohup``, SLURM, CI) until it ends; there a line is
    written at the start, then at most every ``every_seconds`` and at the last step: the step and its total, the
    time elapsed and an estimate of the time left.

    Args:
        total: the number of steps.
        description: what the loop does, at the start of each line.
        unit: what a step is called.
        enabled: ``False`` writes nothing (e.g. on every rank but the first).
        every_seconds: the least time between two lines.
        stream: where to write (default: standard error).
    """

    def __init__(
        self,
        total: int,
        description: str,
        unit: str = "step",
        enabled: bool = True,
        every_seconds: float = 30.0,
        stream: TextIO | None = None,
    ) -> None:
        self.total = total
        self.description = description
        self.unit = unit
        self.enabled = enabled
        self.every_seconds = every_seconds
        self.stream = sys.stderr if stream is None else stream
        self.done = 0
        self._bar: tqdm | None = None
        self._started = self._last_line = 0.0

    def __enter__(self) -> StepProgress:
        self._started = self._last_line = time.monotonic()
        if not self.enabled:
            return self
        if self.stream.isatty():
            self._bar = tqdm(
                total=self.total, desc=self.description, unit=self.unit, file=self.stream, dynamic_ncols=True
            )
        else:
            self._say(f"{self.description}: {self.total} {self.unit}s")
        return self

    def update(self, steps: int = 1) -> None:
        self.done += steps
        if self._bar is not None:
            self._bar.update(steps)
            return
        now = time.monotonic()
        if not self.enabled or (now - self._last_line < self.every_seconds and self.done < self.total):
            return
        self._last_line = now
        elapsed = now - self._started
        line = f"{self.description}: {self.unit} {self.done}/{self.total} · {clock(elapsed)} elapsed"
        if 0 < self.done < self.total:
            line += f" · ~{clock(elapsed / self.done * (self.total - self.done))} left"
        self._say(line)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()

    def _say(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
