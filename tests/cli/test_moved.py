"""A config written before 0.2.0 is told, in its first lines, everything that moved, not only the first."""

import pytest

from denselora.cli import main
from denselora.cli.moved import moved_advice

#: The quickstart config as version 0.1.0 shipped it (abridged): three things in it have moved since.
CONFIG_0_1 = """\
model:
  class_path: denselora.training.FineTuner
  init_args:
    pretrained: denselora/quickstart-base
    adapter:
      class_path: denselora.adapters.DenseLoRA
      init_args:
        r: 16
    test_after_fit: true
data:
  class_path: denselora.data.quickstart.QuickstartDataModule
"""


def test_a_0_1_config_hears_of_each_move_before_anything_else(tmp_path, capsys):
    old = tmp_path / "config.yaml"
    old.write_text(CONFIG_0_1)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", f"--config={old}"])
    assert exit_info.value.code == 2
    first = capsys.readouterr().err.splitlines()[:3]
    assert first[0].startswith("error: model.init_args.test_after_fit is now a setting of the command")
    assert (
        first[1]
        == "denselora.adapters.DenseLoRA is denselora.methods.DenseLoRA since denselora 0.2.0: write that in the config"
    )
    assert first[2].startswith(
        "denselora.data.quickstart.QuickstartDataModule is denselora.quickstart.QuickstartDataModule"
    )


def test_the_advised_class_paths_import():
    from jsonargparse.typing import import_object

    for line in moved_advice(
        "denselora.adapters.LoRA denselora.data.quickstart.QuickstartDataModule denselora.models.QuickstartBase"
    ):
        import_object(line.split(" is ")[1].split(" since ")[0])


def test_current_names_and_unreadable_configs_get_no_advice(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: [unclosed\n")
    assert (
        moved_advice(
            "denselora.methods.DenseLoRA denselora.quickstart.QuickstartDataModule", [broken, tmp_path / "none.yaml"]
        )
        == []
    )
