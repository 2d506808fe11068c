"""The benchmark scripts run end to end (on the tiny shape) and report every variant against the base."""

import pytest

from benchmarks import decode, train_step
from benchmarks.common import VARIANTS


@pytest.mark.parametrize("extra", [[], ["--gradient-checkpointing", "--batch", "1", "--dtype", "bfloat16"]])
def test_train_step_table(capsys, extra):
    results = train_step.main(
        ["--shape", "tiny", "--device", "cpu", "--rounds", "2", "--repeats", "1", "--seq", "16", *extra]
    )
    assert list(results) == list(VARIANTS)
    table = capsys.readouterr().out
    assert "| base | " in table and "| 1.000 |" in table
    saved = {name: m.saved_bytes for name, m in results.items()}
    if not extra:
        # The fused layer keeps r-wide tensors only: less than the plain autograd reference keeps. (With
        # checkpointing, both keep only the blocks' inputs.)
        assert saved["denselora"] < saved["denselora-reference"]
    assert all(len(m.seconds) == 2 and min(m.seconds) > 0 for m in results.values())


def test_decode_table(capsys):
    results = decode.main(["--shape", "tiny", "--device", "cpu", "--rounds", "2", "--new-tokens", "4", "--prompt", "8"])
    assert list(results) == list(VARIANTS)
    assert "ms per token" in capsys.readouterr().out
