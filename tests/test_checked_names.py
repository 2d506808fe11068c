"""Names from the settings that become file names stay inside their folder."""

from __future__ import annotations

import pytest

from denselora.checked_names import checked_name
from denselora.errors import ConfigError


@pytest.mark.parametrize("value", ["boolq", "ARC-Easy", "my set", ".hidden", "v1.2"])
def test_plain_names_pass_unchanged(value):
    assert checked_name(value, "data.init_args.eval_datasets", "a folder name") == value


@pytest.mark.parametrize("value", ["", " ", ".", "..", "../evil", "a/b", "/tmp/evil", "a\\b", "..\\evil", "a\x00b"])
def test_names_that_leave_the_folder_are_refused(value):
    with pytest.raises(ConfigError) as caught:
        checked_name(value, "data.init_args.eval_datasets", "a folder name under <data_dir>/dataset/")
    message = str(caught.value)
    assert message.startswith("data.init_args.eval_datasets: ")  # the setting
    assert repr(value) in message  # the value
    assert "a folder name under <data_dir>/dataset/" in message and "'..'" in message  # what is allowed
