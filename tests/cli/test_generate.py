"""``python -m denselora generate``: instructions in, answers out, as ``predict`` would answer them."""

import io
import json

import pytest

from denselora.__main__ import main
from denselora.cli.generate import main as generate
from denselora.errors import UserError
from tests.training.cli_runs import run, run_dirs, tiny_run_args

INSTRUCTIONS = ["Is 4 an even number?", "What is 2 + 2?"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short fit and its predictions of INSTRUCTIONS, the answers generate must give."""
    root = tmp_path_factory.mktemp("trained")
    run(tiny_run_args(root, "--trainer.max_steps", "2", "--trainer.val_check_interval", "2"))
    (run_dir,) = run_dirs(root)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    questions = root / "questions.json"
    questions.write_text(json.dumps([{"instruction": text} for text in INSTRUCTIONS]))
    run(tiny_run_args(root, "--ckpt_path", str(checkpoint), "--data.init_args.predict_file", str(questions),
                      "--model.init_args.num_beams", "1", "--model.init_args.max_new_tokens", "16",
                      subcommand="predict"))  # fmt: skip
    rows = [json.loads(line) for line in (run_dir / "predictions" / "questions.jsonl").read_text().splitlines()]
    return checkpoint, questions, [row["response"] for row in sorted(rows, key=lambda row: row["index"])]


def _answers(capsys, *args):
    generate(["--max_new_tokens", "16", *args])
    return capsys.readouterr().out


def test_answers_from_arguments_a_file_and_standard_input_are_predict_s(trained, capsys, monkeypatch):
    checkpoint, questions, responses = trained
    expected = "".join(response + "\n" for response in responses)  # each answer, then a new line
    assert _answers(capsys, "--ckpt_path", str(checkpoint), *INSTRUCTIONS) == expected
    assert _answers(capsys, "--ckpt_path", str(checkpoint), "--file", str(questions)) == expected
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(INSTRUCTIONS) + "\n"))
    assert _answers(capsys, "--adapter", str(checkpoint.parent.parent / "adapter")) == expected


def test_mistakes_are_one_message_and_exit_2(trained, tmp_path, capsys):
    checkpoint, _, _ = trained
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--ckpt_path", str(tmp_path / "missing.ckpt"), "x"])
    assert exit_info.value.code == 2
    assert "missing.ckpt" in capsys.readouterr().err
    with pytest.raises(UserError, match="no such file"):
        generate(["--ckpt_path", str(checkpoint), "--file", str(tmp_path / "none.json")])
    with pytest.raises(UserError, match="give exactly one model"):
        generate(["x"])
