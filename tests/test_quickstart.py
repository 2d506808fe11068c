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
    # The base answers at chance (about 50 / 25 / 3 %: it was trained on random answers); two epochs of
    # DenseLoRA make the true/false set right and lift the mean well above chance.
    assert accuracy["synth_boolq"] >= 0.9, accuracy
    assert results["mean_accuracy"] >= 0.4, accuracy
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "cache" / "quickstart-base-v3" / "config.json").is_file()

    # ... and the cached base alone is at chance on the same true/false questions.
    from denselora.data.quickstart import QuickstartDataModule
    from denselora.evaluation import evaluate
    from denselora.quickstart import load_quickstart_base

    data = QuickstartDataModule(data_dir="runs/quickstart-data", eval_datasets=["synth_boolq"], eval_limit=60)
    data.setup("test")
    base = evaluate(load_quickstart_base(), data.tokenizer, data.eval_sets, num_beams=1, print_fn=None)
    assert 0.3 <= base.datasets[0].accuracy <= 0.7
