"""``python -m denselora lm-eval``: lm-evaluation-harness on a run's checkpoint, its adapter or a bare base, offline."""

from __future__ import annotations

import json
import sys

import pytest

from denselora.__main__ import main
from denselora.cli.tools import SUMMARIES, TOOLS
from tests.data import conftest as data_fixtures
from tests.evaluation.harness_runs import METHODS, bare_base, fitted_runs
from tests.evaluation.test_harness import BOOLQ, _local_task

lm_eval = pytest.importorskip("lm_eval")

#: The real LLM-Adapters folder from DENSELORA_DATA_DIR: skipped when unset, failed when set but missing.
shared_data = data_fixtures.shared_data


@pytest.fixture(autouse=True)
def no_data_dir_from_the_environment(monkeypatch):
    """Tests that want the LLM-Adapters tasks give the folder (or set the variable) themselves."""
    monkeypatch.delenv("DENSELORA_DATA_DIR", raising=False)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    # The same fits as tests/evaluation/test_harness.py's (memoised by folder).
    return fitted_runs(tmp_path_factory.getbasetemp() / "harness-runs")


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """A folder holding one task of one's own, ``my_choice`` (six items, dataset_path: json)."""
    return _local_task(tmp_path_factory.mktemp("my-tasks"))


def _run(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["lm-eval", *args])
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def _samples(output_dir, task="my_choice"):
    rows = [json.loads(line) for line in (output_dir / f"samples_{task}.jsonl").read_text().splitlines()]
    return [[response[0] for response in row["filtered_resps"]] for row in sorted(rows, key=lambda r: r["doc_id"])]


def _reference(model, tokenizer, tasks):
    """The log-likelihoods lm-eval's own Hugging Face model gives for ``my_choice``, on a model in memory."""
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    results = lm_eval.simple_evaluate(
        model=HFLM(pretrained=model, tokenizer=tokenizer, batch_size=16),
        tasks=["my_choice"],
        task_manager=TaskManager(include_path=str(tasks), include_defaults=False),
    )
    samples = sorted(results["samples"]["my_choice"], key=lambda r: r["doc_id"])
    return [[response[0] for response in row["filtered_resps"]] for row in samples]


def test_the_command_is_listed_and_has_help(capsys):
    assert TOOLS["lm-eval"] == "denselora.cli.lm_eval" and "lm-evaluation-harness" in SUMMARIES["lm-eval"]
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    for option in ("--ckpt_path", "--adapter", "--pretrained", "--tasks", "--include_path", "--data_dir",
                   "--template", "--limit", "--num_fewshot", "--batch_size", "--device", "--output_dir"):  # fmt: skip
        assert option in out, option


@pytest.mark.parametrize("method", METHODS)
def test_the_checkpoint_and_the_adapter_score_as_the_trained_model(runs, tasks, method, tmp_path, capsys):
    """The same log-likelihood for every option, whether the command loads the run's checkpoint or its exported
    adapter, as lm-eval's own model class gives on the model still in memory after training; the bare base gives
    others, so the adapter was really loaded."""
    run = runs[method]
    trained = _reference(run.inner_model, run.module.tokenizer, tasks)
    base = _reference(bare_base(), run.module.tokenizer, tasks)
    assert trained != base
    common = ["--tasks", "my_choice", "--include_path", str(tasks), "--log_samples", "--batch_size", "4"]

    code, out, _ = _run(["--ckpt_path", str(run.checkpoint), *common], capsys)
    assert code == 0
    assert out.splitlines()[-1].startswith(f"lm-eval results in {run.run_dir / 'lm_eval'} ")  # the default folder
    assert _samples(run.run_dir / "lm_eval") == trained

    code, _, _ = _run(["--adapter", str(run.adapter), *common, "--output_dir", str(tmp_path / "adapter")], capsys)
    assert code == 0 and _samples(tmp_path / "adapter") == trained

    base_folder = str(run.run_dir.parents[1] / "base")
    code, _, _ = _run(["--pretrained", base_folder, *common, "--output_dir", str(tmp_path / "base")], capsys)
    assert code == 0 and _samples(tmp_path / "base") == base


def test_a_bare_base_on_a_task_of_ones_own(tasks, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a bare base writes to runs/lm_eval/<name> under the working directory
    code, out, _ = _run(
        ["--pretrained", "denselora/quickstart-base", "--tasks", "my_choice", "--include_path", str(tasks),
         "--limit", "5"],
        capsys,
    )  # fmt: skip
    assert code == 0
    output_dir = tmp_path / "runs" / "lm_eval" / "quickstart-base"
    results = json.loads((output_dir / "results.json").read_text())
    assert results["n-samples"]["my_choice"] == {"original": 6, "effective": 5}
    accuracy = results["results"]["my_choice"]["acc,none"]
    assert 0 <= accuracy <= 1 and results["config"]["model"] == "the base denselora/quickstart-base, no adapter"
    table = (output_dir / "results.md").read_text()
    assert "|my_choice|" in table.replace(" ", "") and f"{accuracy:.1f}"[:3] in table
    assert table.split("\n\n", 1)[1].strip() in out  # the table printed is the table written
    assert out.splitlines()[-1] == "lm-eval results in runs/lm_eval/quickstart-base (results.md, results.json)"
    assert not list(output_dir.glob("samples_*"))


def test_the_llm_adapters_tasks_from_the_data_folder(shared_data, runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DENSELORA_DATA_DIR", str(shared_data.root))  # --data_dir's default
    run = runs["lora"]
    code, out, _ = _run(
        ["--ckpt_path", str(run.checkpoint), "--tasks", "llm_adapters_arc_easy,llm_adapters_boolq_qa", "--limit", "5",
         "--output_dir", str(tmp_path)],
        capsys,
    )  # fmt: skip
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["results"]) == {"llm_adapters_arc_easy", "llm_adapters_boolq_qa"}
    assert {task: counts["effective"] for task, counts in results["n-samples"].items()} == {
        "llm_adapters_arc_easy": 5, "llm_adapters_boolq_qa": 5,
    }  # fmt: skip
    assert results["configs"]["llm_adapters_arc_easy"]["target_delimiter"] == ""
    assert (tmp_path / "tasks" / "llm_adapters" / "arc_easy.jsonl").is_file()
    assert "llm_adapters_arc_easy" in out and "items/s" in out


def _one_error(code, err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_a_missing_lm_eval_says_how_to_install_it(runs, tasks, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # what `import lm_eval` finds when it is not installed
    code, _, err = _run(["--ckpt_path", str(runs["lora"].checkpoint), "--tasks", "my_choice"], capsys)
    assert 'pip install -e ".[eval]"' in _one_error(code, err) and 'pip install "lm-eval==0.4.13"' in err


def test_an_unknown_task_is_named_with_the_llm_adapters_ones(runs, tmp_path, capsys):
    data = tmp_path / "data" / "dataset" / "boolq"
    data.mkdir(parents=True)
    (data / "test.json").write_text(json.dumps([BOOLQ]))
    args = ["--ckpt_path", str(runs["lora"].checkpoint), "--tasks", "llm_adapters_boolq,no_such_task"]
    line = _one_error(*_run([*args, "--data_dir", str(tmp_path / "data")], capsys)[::2])
    assert "unknown lm-eval task(s): no_such_task. The llm_adapters tasks of this data folder: " in line
    assert "llm_adapters_boolq, llm_adapters_boolq_qa, llm_adapters, llm_adapters_qa." in line
    assert "--include_path DIR" in line
    line = _one_error(*_run(args, capsys)[::2])  # no data folder: the llm_adapters tasks are unknown too
    assert "unknown lm-eval task(s): llm_adapters_boolq, no_such_task." in line and "give --data_dir" in line


def test_a_task_on_the_hub_is_refused_offline(runs, capsys):
    line = _one_error(*_run(["--ckpt_path", str(runs["lora"].checkpoint), "--tasks", "arc_easy"], capsys)[::2])
    assert "task arc_easy cannot read its data offline" in line and "allenai/ai2_arc" in line
    assert "dataset_path: json" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tasks", "my_choice"], "give exactly one model to evaluate"),
        (["--ckpt_path", "{ckpt}", "--pretrained", "denselora/quickstart-base", "--tasks", "my_choice"],
         "give exactly one model to evaluate"),
        (["--ckpt_path", "{tmp}/last.ckpt", "--tasks", "my_choice"], "last.ckpt: no such checkpoint file"),
        (["--adapter", "{tmp}/adapter", "--tasks", "my_choice"], "adapter: no such adapter folder"),
        (["--ckpt_path", "{ckpt}", "--tasks", "my_choice", "--data_dir", "{tmp}/data"], "data: no such folder"),
        (["--ckpt_path", "{ckpt}", "--tasks", "my_choice", "--include_path", "{tmp}/mine"], "no such folder of task"),
        (["--ckpt_path", "{ckpt}", "--tasks", " , "], "--tasks: give at least one"),
        (["--ckpt_path", "{tmp}/my_choice.jsonl", "--tasks", "my_choice", "--include_path", "{tasks}"],
         "my_choice.jsonl cannot be read as a checkpoint"),
    ],
)  # fmt: skip
def test_user_errors_exit_2_with_one_line(runs, tasks, args, message, tmp_path, capsys):
    (tmp_path / "my_choice.jsonl").write_text((tasks / "my_choice.jsonl").read_text())
    given = [arg.format(ckpt=runs["lora"].checkpoint, tmp=tmp_path, tasks=tasks) for arg in args]
    line = _one_error(*_run(given, capsys)[::2])
    assert message in line, line


def test_a_task_whose_local_file_is_missing(runs, tasks, tmp_path, capsys):
    folder = _local_task(tmp_path / "mine", name="gone")
    (folder / "gone.jsonl").unlink()
    args = ["--ckpt_path", str(runs["lora"].checkpoint), "--tasks", "gone", "--include_path", str(folder)]
    line = _one_error(*_run(args, capsys)[::2])
    assert "task gone cannot read its data offline (FileNotFoundError" in line
