"""The README's "How the code is laid out" is drawn from the package: every folder and stand-alone module."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "denselora"


def _section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]


def test_the_table_has_one_row_per_folder_of_the_package():
    folders = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    rows = re.findall(r"^\| `(\w+)/`(?:, `(\w+)/`)? \|", _section(), re.MULTILINE)
    listed = {name for row in rows for name in row if name}
    assert listed == folders


def test_the_stand_alone_modules_are_named():
    modules = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    paragraph = _section().split("stand alone", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"`(\w+\.py)`", paragraph)) == modules


def test_each_file_a_row_starts_at_exists():
    for folder, start in re.findall(r"^\| `(\w+)/`[^|]*\|[^|]*\| ([^|]*) \|$", _section(), re.MULTILINE):
        for name in re.findall(r"`([\w/]+\.py)`", start):
            path = PACKAGE / name if "/" in name else PACKAGE / folder / name
            assert path.is_file(), path
