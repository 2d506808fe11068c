"""``predict`` as the README writes it: a file in the current directory, answers beside the checkpoint's run."""

import json
import shutil
from pathlib import Path

import pytest

from tests.training.cli_runs import run, run_dirs, tiny_run_args

QUESTIONS = [
    {"instruction": "Is 4 an even number?"},
    {"instruction": "What is 2 + 2?", "input": "Answer with a number.", "answer": "4"},
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short fit, shared: its folder (``runs/``, ``data/``) and its ``last.ckpt``."""
    root = tmp_path_factory.mktemp("trained")
    run(tiny_run_args(root, "--trainer.max_steps", "2", "--trainer.val_check_interval", "2"))
    (run_dir,) = run_dirs(root)
    return root, run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture
def work(tmp_path, trained, monkeypatch):
    """A copy of the trained folder, and a current directory of its own holding ``questions.json``."""
    root, checkpoint = trained
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "questions.json").write_text(json.dumps(QUESTIONS))
    monkeypatch.chdir(cwd)
    return copy, copy / checkpoint.relative_to(root)


def _predict(root: Path, checkpoint: Path | None, predict_file: str) -> None:
    args = ["--data.init_args.predict_file", predict_file]
    if checkpoint is not None:
        args = ["--ckpt_path", str(checkpoint), *args]
    run(tiny_run_args(root, *args, subcommand="predict"))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_readme_command_writes_beside_the_checkpoints_run(work, caplog, capsys):
    root, checkpoint = work
    run_dir = checkpoint.parent.parent
    _predict(root, checkpoint, "questions.json")  # relative, in the current directory, as the README has it

    rows = _rows(run_dir / "predictions" / "questions.jsonl")
    assert [row["index"] for row in rows] == [0, 1]
    assert [row["instruction"] for row in rows] == [q["instruction"] for q in QUESTIONS]
    assert [row["input"] for row in rows] == ["", "Answer with a number."]
    assert all(set(row) == {"index", "instruction", "input", "completion", "response"} for row in rows)
    assert "predict_file: " in (run_dir / "predictions" / "questions.config.yaml").read_text()
    assert run_dirs(root) == [run_dir]  # no new version_N left behind, holding only setup records
    assert not list((run_dir / "predictions").glob("*.partial.jsonl"))
    assert (
        f"2 predictions of {Path.cwd() / 'questions.json'} written to {run_dir / 'predictions' / 'questions.jsonl'}"
        in (caplog.text)
    )
    assert f"the config of these predictions: {run_dir / 'predictions' / 'questions.config.yaml'}" in (
        capsys.readouterr().err
    )


def test_an_earlier_prediction_file_is_never_overwritten(work, caplog):
    root, checkpoint = work
    predictions = checkpoint.parent.parent / "predictions"
    predictions.mkdir()
    (predictions / "questions.jsonl").write_text("earlier\n")
    (predictions / "questions-1.jsonl").write_text("earlier too\n")

    _predict(root, checkpoint, "questions.json")
    assert (predictions / "questions.jsonl").read_text() == "earlier\n"
    assert (predictions / "questions-1.jsonl").read_text() == "earlier too\n"
    assert len(_rows(predictions / "questions-2.jsonl")) == 2
    assert (predictions / "questions-2.config.yaml").is_file()
    assert "questions-2.jsonl (questions.jsonl holds earlier ones)" in caplog.text


def test_a_file_under_data_dir_is_still_read_and_says_so(work, caplog):
    root, checkpoint = work
    (root / "data" / "legacy.json").write_text(json.dumps(QUESTIONS))
    _predict(root, checkpoint, "legacy.json")
    assert len(_rows(checkpoint.parent.parent / "predictions" / "legacy.jsonl")) == 2
    assert f"reading {root / 'data' / 'legacy.json'} under data_dir instead" in caplog.text


def test_a_checkpoint_outside_a_run_writes_into_the_new_run(work):
    root, checkpoint = work
    loose = root / "adapter.ckpt"
    shutil.copyfile(checkpoint, loose)
    before = run_dirs(root)
    _predict(root, loose, str(Path.cwd() / "questions.json"))  # absolute
    (new,) = set(run_dirs(root)) - set(before)
    assert len(_rows(new / "predictions" / "questions.jsonl")) == 2
    assert (new / "config.yaml").is_file()
    assert not (checkpoint.parent.parent / "predictions").exists()


def test_a_missing_file_names_both_places_tried(work, capsys):
    root, checkpoint = work
    before = run_dirs(root)
    with pytest.raises(SystemExit) as exit_info:
        _predict(root, checkpoint, "nowhere.json")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"tried {Path.cwd() / 'nowhere.json'} and {root / 'data' / 'nowhere.json'}" in err, err
    assert err.count("error: ") == 1
    assert run_dirs(root) == before  # the failed command's run directory is gone
    assert not (checkpoint.parent.parent / "predictions").exists()


def test_predict_without_a_checkpoint_writes_into_the_new_run(work):
    root, _ = work
    before = run_dirs(root)
    _predict(root, None, "questions.json")
    (new,) = set(run_dirs(root)) - set(before)
    assert len(_rows(new / "predictions" / "questions.jsonl")) == 2


def test_the_response_is_the_answer_even_when_the_model_writes_on(work, monkeypatch):
    root, checkpoint = work
    import denselora.evaluation.answers

    def generate(model, tokenizer, input_ids, *args, **kwargs):
        return ["true\n\n### Instruction:\nAnother question\n\n### Response:\nfalse"] * len(input_ids)

    monkeypatch.setattr(denselora.evaluation.answers, "generate_completions", generate)
    _predict(root, checkpoint, "questions.json")
    rows = _rows(checkpoint.parent.parent / "predictions" / "questions.jsonl")
    # The segment the evaluation scores (LLM-Adapters' reading): up to the next marker, not after it.
    assert [row["response"] for row in rows] == ["true\n\n### Instruction:\nAnother question"] * 2
