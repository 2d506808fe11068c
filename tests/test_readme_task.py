"""The README's new-task example runs as written: its module, with its command line, on a tiny model."""

import re
import shlex
import subprocess
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from denselora.cli import main
from tests.training.cli_runs import REPO, run_dirs, tiny_run_args


def _readme_example() -> tuple[str, list[str]]:
    section = (REPO / "README.md").read_text().split("### A new task\n")[1].split("\n### ")[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    command = re.search(r"```bash\n(.*?)```", section, re.S).group(1).strip()
    return code, shlex.split(command.split("python -m denselora ", 1)[1])


def test_the_readme_task_example_runs_as_written(tmp_path, monkeypatch, capsys):
    code, args = _readme_example()
    (tmp_path / "my_task.py").write_text(code)
    # Where the README puts it, the project's lint runs over it.
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(REPO / "pyproject.toml"), str(tmp_path / "my_task.py")],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    monkeypatch.syspath_prepend(str(tmp_path))  # what PYTHONPATH=. does in the README's command
    args[args.index("--config") + 1] = str(REPO / args[args.index("--config") + 1])
    tiny = tiny_run_args(tmp_path, "--test_after_fit", "true")
    main(args + tiny[3:])  # the README's arguments, then the tiny model and data (past its subcommand and config)
    (run_dir,) = run_dirs(tmp_path)
    events = EventAccumulator(str(run_dir)).Reload()
    tags = sorted(tag for tag in events.Tags()["scalars"] if tag.startswith("test/"))
    assert tags == [f"test/contains_gold/{name}" for name in ("synth_boolq", "synth_choice", "synth_math")]
    assert all(len(events.Scalars(tag)) == 1 for tag in tags)  # once each, not once per test set
    assert not (run_dir / "evaluation").exists()  # the default evaluation never ran
    printed = capsys.readouterr().out  # the task's metrics, at the end of the run
    assert "| metric | value |" in printed and "| test/contains_gold/synth_boolq | " in printed
    sys.modules.pop("my_task", None)
