"""The run directory's names: each in the module's tree diagram, and the older definitions agree with them."""

import pytest

from denselora import run_layout
from denselora.analysis import snapshot
from denselora.training import finetuner, parameter_record


@pytest.mark.parametrize("name", run_layout.__all__)
def test_the_diagram_shows_every_name(name):
    assert getattr(run_layout, name) in run_layout.__doc__


def test_the_names_defined_elsewhere_are_the_same():
    assert finetuner.ADAPTER_EXPORT_DIR == run_layout.ADAPTER_EXPORT_DIR
    assert parameter_record.PARAMETER_RECORD == run_layout.PARAMETER_RECORD
    assert snapshot.SNAPSHOT_FILE == run_layout.SNAPSHOT_FILE
