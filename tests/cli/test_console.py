"""What every command sets up about its output."""

import datasets
import pytest
from transformers.utils import logging as transformers_logging

from denselora.cli import console, tools


@pytest.fixture
def bars_restored():
    yield
    datasets.enable_progress_bars()
    transformers_logging.enable_progress_bar()


def test_without_a_terminal_the_libraries_draw_no_bars(bars_restored, monkeypatch):
    monkeypatch.setattr(console, "share_busy_cores", lambda: pytest.fail("a command that only reads files"))
    datasets.enable_progress_bars()
    transformers_logging.enable_progress_bar()
    console.prepare_console(computes=False)  # standard error is pytest's capture here: no terminal
    assert not datasets.is_progress_bar_enabled() and not transformers_logging.is_progress_bar_enabled()


def test_on_a_terminal_the_bars_stay_and_a_computing_command_shares_the_cores(bars_restored, monkeypatch):
    shared = []
    monkeypatch.setattr(console.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(console, "share_busy_cores", lambda: shared.append(True))
    datasets.enable_progress_bars()
    console.prepare_console()
    assert datasets.is_progress_bar_enabled() and transformers_logging.is_progress_bar_enabled() and shared


def test_the_computing_tools_are_tools():
    assert set(tools.TOOLS) >= tools.COMPUTING
