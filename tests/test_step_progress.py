"""Progress of loops outside the trainer: plain lines in a log file, a bar on a terminal."""

import io

from denselora import step_progress
from denselora.step_progress import StepProgress, clock


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_a_line_at_the_start_and_at_the_last_step_and_none_between_when_fast():
    log = io.StringIO()
    with StepProgress(5, "building the base", stream=log) as steps:
        for _ in range(5):
            steps.update()
    lines = log.getvalue().splitlines()
    assert lines[0] == "building the base: 5 steps"
    assert lines[1].startswith("building the base: step 5/5 · 0:00:0") and lines[1].endswith(" elapsed")
    assert len(lines) == 2 and "\r" not in log.getvalue()


def test_a_slow_loop_gets_a_line_every_interval_with_the_time_left(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(step_progress.time, "monotonic", lambda: now[0])
    log = io.StringIO()
    with StepProgress(4, "converting", unit="tensor", every_seconds=30, stream=log) as steps:
        for _ in range(4):
            now[0] += 20.0
            steps.update()
    assert log.getvalue().splitlines() == [
        "converting: 4 tensors",
        # none at tensor 1 (20 s in) or tensor 3 (20 s after the last line)
        "converting: tensor 2/4 · 0:00:40 elapsed · ~0:00:40 left",
        "converting: tensor 4/4 · 0:01:20 elapsed",  # the last step, however soon
    ]


def test_a_terminal_gets_a_bar_and_a_disabled_progress_nothing():
    terminal = _Terminal()
    with StepProgress(3, "building", stream=terminal) as steps:
        steps.update(3)
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()
    quiet = io.StringIO()
    with StepProgress(3, "building", enabled=False, stream=quiet) as steps:
        steps.update(3)
    assert quiet.getvalue() == "" and steps.done == 3


def test_clock():
    assert [clock(0), clock(61.9), clock(3 * 3600 + 5)] == ["0:00:00", "0:01:01", "3:00:05"]
