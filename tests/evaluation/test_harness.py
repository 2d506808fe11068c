"""lm-evaluation-harness on denselora models: the LLM-Adapters task files, the model loaded from a run's files,
and lm-eval's ``LM`` for it."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch
import yaml

from denselora.data.prompts import format_prompt
from denselora.errors import (
    AdapterMismatchError,
    CheckpointMismatchError,
    ConfigError,
    DataError,
    MissingDataError,
    MissingRunFileError,
    UnreadableFileError,
)
from denselora.evaluation.harness import (
    LLM_ADAPTERS_SETS,
    check_model_options,
    load_model,
    read_docs,
    require_lm_eval,
    run_dir_of,
    write_llm_adapters_tasks,
)
from denselora.evaluation.harness.offline import offline
from denselora.tasks.choices import parse_choices
from tests.data.conftest import SHARED_COMMONSENSE
from tests.evaluation.harness_runs import METHODS, bare_base, fitted_runs

BOOLQ = {
    "instruction": "Please answer the following question with true or false, question: is the sky green?\n\n"
    "Answer format: true/false",
    "input": "",
    "output": "the correct answer is false",
    "answer": "false",
}
ARC = {
    "instruction": "Please choose the correct answer to the question: Which is a planet?\n\nAnswer1: the Moon "
    "Answer2: Mars Answer3: the Sun\n\nAnswer format: answer1/answer2/answer3",
    "input": "",
    "output": "the correct answer is answer2",
    "answer": "answer2",
}
WINOGRANDE = {
    "instruction": "Please choose the correct answer to fill in the blank to complete the given sentence: Ann "
    "helped Bo because _ was kind.\n\nOption1: Ann Option2: Bo Answer format: option1/option2",
    "input": "",
    "output": "the correct answer is option1",
    "answer": "option1",
}


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    # Memoised by folder in harness_runs, so the command-line tests reuse the same two fits.
    return fitted_runs(tmp_path_factory.getbasetemp() / "harness-runs")


def _data_dir(root, sets):
    for name, records in sets.items():
        (root / "dataset" / name).mkdir(parents=True)
        (root / "dataset" / name / "test.json").write_text(json.dumps(records))
    return root


def _docs(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------------------ the task files
def test_the_task_files_hold_each_records_options_gold_and_prompt(tmp_path):
    data = _data_dir(tmp_path / "data", {"boolq": [BOOLQ, BOOLQ], "ARC-Easy": [ARC], "winogrande": [WINOGRANDE]})
    written = write_llm_adapters_tasks(data, tmp_path / "out")

    assert written.folder == tmp_path / "out" / "llm_adapters"
    assert written.tasks == (
        "llm_adapters_boolq", "llm_adapters_winogrande", "llm_adapters_arc_easy",
        "llm_adapters_boolq_qa", "llm_adapters_winogrande_qa", "llm_adapters_arc_easy_qa",
    )  # fmt: skip
    assert written.groups == ("llm_adapters", "llm_adapters_qa")
    arc = _docs(written.folder / "arc_easy.jsonl")
    assert arc == [
        {
            "instruction": "Please choose the correct answer to the question: Which is a planet?",
            "question": "Which is a planet?",
            "choices": ["the Moon", "Mars", "the Sun"],
            "gold": 1,
            "prompt": format_prompt("alpaca", "Please choose the correct answer to the question: Which is a planet?"),
        }
    ]
    assert arc[0]["prompt"].endswith("Which is a planet?\n\n### Response:\n")
    assert [(d["choices"], d["gold"]) for d in _docs(written.folder / "boolq.jsonl")] == [(["true", "false"], 1)] * 2
    assert _docs(written.folder / "winogrande.jsonl")[0]["choices"] == ["Ann", "Bo"]

    project = yaml.safe_load((written.folder / "llm_adapters_arc_easy.yaml").read_text())
    qa = yaml.safe_load((written.folder / "llm_adapters_arc_easy_qa.yaml").read_text())
    common = {
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(written.folder / "arc_easy.jsonl")}},
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_choice": "choices",
        "doc_to_target": "gold",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
    }
    assert project == {
        "task": "llm_adapters_arc_easy", **common, "doc_to_text": "prompt", "target_delimiter": "",
        "metadata": {"version": 1.0, "source": str(data / "dataset" / "ARC-Easy" / "test.json"), "template": "alpaca"},
    }  # fmt: skip
    assert qa == {
        "task": "llm_adapters_arc_easy_qa", **common, "doc_to_text": "Question: {{question}}\nAnswer:",
        "metadata": {"version": 1.0, "source": str(data / "dataset" / "ARC-Easy" / "test.json")},
    }  # fmt: skip
    group = yaml.safe_load((written.folder / "_llm_adapters_qa.yaml").read_text())
    assert group["group"] == "llm_adapters_qa" and group["task"] == list(written.tasks[3:])
    weighted = {m["metric"]: m["weight_by_size"] for m in group["aggregate_metric_list"]}
    assert weighted == {"acc": False, "acc_norm": False}  # the paper's average: each set counts once


def test_the_template_is_the_one_asked_for_and_a_set_gone_since_is_dropped(tmp_path):
    data = _data_dir(tmp_path / "data", {"boolq": [BOOLQ], "ARC-Easy": [ARC]})
    written = write_llm_adapters_tasks(data, tmp_path / "out")
    docs = written.folder / "boolq.jsonl"
    before = docs.stat().st_mtime_ns
    (data / "dataset" / "ARC-Easy" / "test.json").unlink()

    written = write_llm_adapters_tasks(data, tmp_path / "out")
    assert written.tasks == ("llm_adapters_boolq", "llm_adapters_boolq_qa")
    assert sorted(p.name for p in written.folder.iterdir()) == [
        "_llm_adapters.yaml", "_llm_adapters_qa.yaml", "boolq.jsonl", "llm_adapters_boolq.yaml",
        "llm_adapters_boolq_qa.yaml",
    ]  # fmt: skip
    assert docs.stat().st_mtime_ns == before  # unchanged docs keep their datasets cache valid

    write_llm_adapters_tasks(data, tmp_path / "out", template="authors_eval")
    instruction = parse_choices(BOOLQ["instruction"]).instruction
    assert _docs(docs)[0]["prompt"] == format_prompt("authors_eval", instruction)


def test_unreadable_data_is_refused_naming_the_file_and_record(tmp_path):
    with pytest.raises(MissingDataError, match="no such data folder"):
        write_llm_adapters_tasks(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="holds none of the LLM-Adapters commonsense test sets") as caught:
        write_llm_adapters_tasks(tmp_path / "empty", tmp_path / "out")
    fetch = f"python -m denselora data download --data-dir {(tmp_path / 'empty').resolve()} --sets commonsense"
    assert f"`{fetch} --training none` fetches them" in str(caught.value)
    with pytest.raises(ConfigError, match="unknown prompt template 'chatml'"):
        write_llm_adapters_tasks(tmp_path / "empty", tmp_path / "out", template="chatml")

    path = tmp_path / "test.json"
    path.write_text("[{not json")
    with pytest.raises(DataError, match="is not a JSON list or JSON lines"):
        read_docs(path)
    path.write_text(json.dumps([BOOLQ, {"instruction": BOOLQ["instruction"]}]))
    with pytest.raises(DataError, match=r"test.json, record 1: expected an object with 'instruction' and 'answer'"):
        read_docs(path)
    path.write_text(json.dumps([{**ARC, "answer": "answer7"}]))
    with pytest.raises(DataError, match=r"record 0: cannot read its options: its answer 'answer7' is not one"):
        read_docs(path)


def test_the_real_test_sets_become_docs_lm_eval_reads(shared_data, tmp_path):
    pytest.importorskip("lm_eval")
    from denselora.evaluation.harness.task_loading import load_tasks

    written = write_llm_adapters_tasks(shared_data.root, tmp_path)
    for name in SHARED_COMMONSENSE:
        records = json.loads(shared_data.test_set(name).read_text())
        docs = _docs(written.folder / f"{LLM_ADAPTERS_SETS[name]}.jsonl")
        assert len(docs) == len(records), name
        for record, doc in zip(records, docs, strict=True):
            item = parse_choices(record["instruction"], record["answer"])
            assert item.labels[doc["gold"]] == record["answer"]
            assert (doc["choices"], doc["question"]) == (list(item.choices), item.question)
            assert doc["prompt"] == format_prompt("alpaca", item.instruction)
    first = _docs(written.folder / "arc_easy.jsonl")[0]
    assert first["choices"][first["gold"]] == "Sunlight is the source of energy for nearly all ecosystems."

    _, tasks = load_tasks(["llm_adapters_arc_easy", "llm_adapters_arc_easy_qa"], [written.folder])
    project, qa = tasks
    docs = list(project.test_docs())
    assert len(docs) == 2376 and docs[0] == first
    assert project.doc_to_text(first) == first["prompt"] and project.config.target_delimiter == ""
    assert qa.doc_to_text(first) == f"Question: {first['question']}\nAnswer:" and qa.config.target_delimiter == " "
    assert qa.doc_to_choice(first) == first["choices"] and qa.doc_to_target(first) == first["gold"]


# ------------------------------------------------------------------------------------------- the model
@pytest.mark.parametrize("method", METHODS)
def test_a_checkpoint_and_its_adapter_load_the_trained_model(runs, method):
    run = runs[method]
    ids = torch.randint(4, 500, (2, 24), generator=torch.Generator().manual_seed(0))
    base_folder = str(run.run_dir.parents[1] / "base")
    with torch.no_grad():
        trained = run.inner_model(ids).logits
        base = bare_base()(ids).logits
        assert (trained - base).abs().max() > 1e-2  # the adapter changes the model, so loading it shows
        loaded = {
            "checkpoint": load_model(ckpt_path=run.checkpoint),
            "adapter": load_model(adapter=run.adapter),  # the base from the run's config.yaml
            "adapter on --pretrained": load_model(adapter=run.adapter, pretrained=base_folder),
        }
        for source, model in loaded.items():
            assert torch.equal(model.model(ids).logits, trained), source
        assert torch.equal(load_model(pretrained=base_folder).model(ids).logits, base)
    assert loaded["checkpoint"].describe() == f"{method} checkpoint {run.checkpoint} on random llama from a config"
    assert loaded["adapter"].describe() == f"{method} adapter {run.adapter} on random llama from a config"
    assert not loaded["checkpoint"].model.training


def test_exactly_one_model_is_asked_for():
    check_model_options("x.ckpt", None, None)
    check_model_options(None, "adapter", "base")  # the adapter's base
    for given in ((None, None, None), ("x.ckpt", "adapter", None), ("x.ckpt", None, "base")):
        with pytest.raises(ConfigError, match="give exactly one model to evaluate"):
            check_model_options(*given)
    with pytest.raises(ConfigError, match="dtype must be one of"):
        load_model(pretrained="denselora/quickstart-base", dtype="int8")


def test_files_that_are_not_a_runs_are_refused(runs, tmp_path):
    with pytest.raises(MissingRunFileError, match="no such checkpoint file"):
        load_model(ckpt_path=tmp_path / "last.ckpt")
    (tmp_path / "garbage.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(UnreadableFileError, match="cannot be read as a checkpoint"):
        load_model(ckpt_path=tmp_path / "garbage.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointMismatchError, match="not written by denselora's trainer"):
        load_model(ckpt_path=tmp_path / "other.ckpt")
    checkpoint = torch.load(runs["lora"].checkpoint, weights_only=True)
    checkpoint["hyper_parameters"]["adapter"]["class_path"] = "denselora.methods.Nope"
    torch.save(checkpoint, tmp_path / "moved.ckpt")
    with pytest.raises(CheckpointMismatchError, match="do not build with this version") as raised:
        load_model(ckpt_path=tmp_path / "moved.ckpt")
    assert "\n" not in str(raised.value) and "Nope" in str(raised.value)

    with pytest.raises(MissingRunFileError, match="no such adapter folder"):
        load_model(adapter=tmp_path / "adapter")
    (tmp_path / "adapter").mkdir()
    with pytest.raises(MissingRunFileError, match=r"adapter_config\.json: no such file"):
        load_model(adapter=tmp_path / "adapter")
    (tmp_path / "adapter" / "adapter_config.json").write_text('{"r": 4}')
    with pytest.raises(UnreadableFileError, match="neither a DenseLoRA adapter config"):
        load_model(adapter=tmp_path / "adapter")
    lone = tmp_path / "lone" / "adapter"
    lone.parent.mkdir()
    os.symlink(runs["denselora"].adapter, lone)
    with pytest.raises(MissingRunFileError, match=r"config\.yaml: no such file, so the adapter's base is unknown"):
        load_model(adapter=lone)


@pytest.mark.parametrize("method", METHODS)
def test_an_adapter_on_another_base_is_refused(runs, method):
    # The quickstart base is LLaMA too, but of another width: every adapted layer has another shape.
    with pytest.raises(AdapterMismatchError):
        load_model(adapter=runs[method].adapter, pretrained="denselora/quickstart-base")


def test_the_run_directory_of_a_checkpoint_or_an_adapter(tmp_path):
    assert run_dir_of(ckpt_path=tmp_path / "run" / "checkpoints" / "last.ckpt") == tmp_path / "run"
    assert run_dir_of(ckpt_path=tmp_path / "saved" / "model.ckpt") == tmp_path / "saved"
    assert run_dir_of(adapter=tmp_path / "run" / "adapter") == tmp_path / "run"
    assert run_dir_of() is None


# ---------------------------------------------------------------------------------------------- lm-eval
def _local_task(folder, name="my_choice"):
    """A task of one's own, as lm-eval's docs describe it: local JSON lines read with dataset_path: json."""
    folder.mkdir(parents=True, exist_ok=True)
    docs = [
        {"question": "Which one is true?", "choices": ["true", "false"], "gold": 0},
        {"question": "How many legs has a cat?", "choices": ["four", "two", "six"], "gold": 0},
        {"question": "Ann has 3 apples and eats 1. How many are left?", "choices": ["1", "2", "3"], "gold": 1},
        {"question": "Which colour is the sky?", "choices": ["blue", "green"], "gold": 0},
        {"question": "Is ice cold?", "choices": ["yes", "no"], "gold": 0},
        {"question": "Which is a number?", "choices": ["seven", "tree", "house"], "gold": 0},
    ]
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(doc) + "\n" for doc in docs))
    config = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(folder / f"{name}.jsonl")}},
        "output_type": "multiple_choice",
        "test_split": "test",
        "doc_to_text": "Question: {{question}}\nAnswer:",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "gold",
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))
    return folder


def _loglikelihoods(results, task="my_choice"):
    return [[response[0] for response in sample["filtered_resps"]] for sample in results["samples"][task]]


def test_lm_eval_finds_the_model_by_name(runs, tmp_path):
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    import denselora.evaluation.harness.lm  # noqa: F401  (registers "denselora")

    run = runs["denselora"]
    manager = TaskManager(include_path=str(_local_task(tmp_path / "tasks")), include_defaults=False)
    with offline():
        by_name = lm_eval.simple_evaluate(
            model="denselora", model_args=f"ckpt_path={run.checkpoint},batch_size=4", tasks=["my_choice"],
            task_manager=manager, device="cpu",
        )  # fmt: skip
        trained = lm_eval.simple_evaluate(
            model=HFLM(pretrained=run.inner_model, tokenizer=run.module.tokenizer, batch_size=4),
            tasks=["my_choice"],
            task_manager=manager,
        )
    assert _loglikelihoods(by_name) == _loglikelihoods(trained)
    info = by_name["config"]
    assert info["model_kind"] == "checkpoint" and info["adapter_method"] == "denselora"
    assert info["model_num_parameters"] == sum(p.numel() for p in run.inner_model.parameters())


def test_the_lm_class_is_there_only_with_lm_eval(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # what `import lm_eval` finds when it is not installed
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[eval\]" \(or pip install "lm-eval==0\.4\.13"\)'):
        require_lm_eval()
    from denselora.evaluation import harness

    with pytest.raises(ConfigError, match="needs lm-evaluation-harness"):
        harness.DenseLoRALM  # noqa: B018


def test_offline_puts_the_settings_back(monkeypatch):
    datasets = pytest.importorskip("datasets")
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    with offline():
        assert os.environ["HF_HUB_OFFLINE"] == os.environ["HF_DATASETS_OFFLINE"] == "1"
        assert huggingface_hub.constants.HF_HUB_OFFLINE is True and datasets.config.HF_HUB_OFFLINE is True
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["HF_DATASETS_OFFLINE"] == "0"
    assert huggingface_hub.constants.HF_HUB_OFFLINE is False and datasets.config.HF_HUB_OFFLINE is False
