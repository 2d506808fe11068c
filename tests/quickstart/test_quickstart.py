"""The README's first command, as written: the quickstart fits and evaluates on a CPU with nothing downloaded."""

import json

import pytest

from denselora.cli import main
from tests.training.cli_runs import QUICKSTART


@pytest.mark.slow
def test_quickstart_fits_and_beats_its_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DENSELORA_CACHE", str(tmp_path / "cache"))
    main(["fit", "--config", str(QUICKSTART), "--trainer.enable_progress_bar", "false"])

    (run_dir,) = sorted((tmp_path / "runs" / "quickstart").glob("version_*"))
    results = json.loads((run_dir / "evaluation" / "results.json").read_text())
    accuracy = {name: entry["accuracy"] for name, entry in results["datasets"].items()}
    # The base answers at chance (it was trained on random answers; the README's quickstart table); two epochs of
    # DenseLoRA make the true/false set right and lift the mean well above chance.
    assert accuracy["synth_boolq"] >= 0.9, accuracy
    assert results["mean_accuracy"] >= 0.4, accuracy
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "cache" / "quickstart-base-v3" / "config.json").is_file()

    # ... and the cached base alone is at chance on the same true/false questions.
    from denselora.evaluation import evaluate
    from denselora.quickstart.base_model import load_quickstart_base
    from denselora.quickstart.datamodule import QuickstartDataModule

    data = QuickstartDataModule(data_dir="runs/quickstart-data", eval_datasets=["synth_boolq"], eval_limit=60)
    data.setup("test")
    base = evaluate(load_quickstart_base(), data.tokenizer, data.eval_sets, num_beams=1, print_fn=None)
    assert 0.3 <= base.datasets[0].accuracy <= 0.7

    # The base knows the facts the answers need (a base that collapsed to one fixed reply would not).
    from denselora.data import format_prompt

    model, tokenizer, known = load_quickstart_base(), data.tokenizer, 0
    numbers = range(40, 60)
    for number in numbers:
        prompt = tokenizer(format_prompt("alpaca", f"Tell me about the number {number}."), return_tensors="pt")
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        reply = tokenizer.decode(out[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)
        known += reply.startswith(f"{number} is an {'even' if number % 2 == 0 else 'odd'} number")
    assert known >= 0.7 * len(numbers), known
