"""The run directory's names: each in the module's tree diagram, and nowhere else in the package."""

from pathlib import Path

import pytest

from denselora import run_layout


@pytest.mark.parametrize("name", run_layout.__all__)
def test_the_diagram_shows_every_name(name):
    assert getattr(run_layout, name) in run_layout.__doc__


def test_no_module_spells_a_run_file_name_itself():
    """A module that writes ``"results.json"`` itself would drift from the name ``report`` reads."""
    names = {getattr(run_layout, name) for name in run_layout.__all__} - {"adapter", "checkpoints", "predictions"}
    # These three are also ordinary words (the adapter argument, Lightning's checkpoints, a predictions list).
    package = Path(run_layout.__file__).parent
    offenders = [
        f"{path.relative_to(package)}: {name}"
        for path in package.rglob("*.py")
        if path.name != "run_layout.py"
        for name in names
        if f'"{name}"' in path.read_text()
    ]
    assert not offenders
