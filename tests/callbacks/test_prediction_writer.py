"""``predict`` from Python: the module returns the rows, the writer (when given) puts them in files."""

import json

import lightning as L
import pytest

from denselora.callbacks import PredictionWriter
from denselora.callbacks.prediction_writer import claim_predictions_stem
from denselora.methods import DenseLoRA
from denselora.quickstart.datamodule import QuickstartDataModule
from denselora.training import FineTuner
from tests.training.cli_runs import TINY_MODEL

QUESTIONS = [{"instruction": "Is 4 an even number?"}, {"instruction": "What is 2 + 2?", "input": "A number."}]


@pytest.fixture
def predict(tmp_path):
    (tmp_path / "questions.json").write_text(json.dumps(QUESTIONS))

    def predict(*callbacks):
        module = FineTuner(DenseLoRA(r=4), model_config=TINY_MODEL, num_beams=1, max_new_tokens=4)
        data = QuickstartDataModule(
            data_dir=str(tmp_path / "data"), train_size=16, test_size=2, predict_file=str(tmp_path / "questions.json")
        )
        trainer = L.Trainer(
            accelerator="cpu",
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp_path / "root",
            callbacks=list(callbacks),
        )
        return [row for batch in trainer.predict(module, datamodule=data) for row in batch]

    return predict


def test_without_the_writer_the_rows_are_returned_and_nothing_is_written(predict, tmp_path):
    rows = predict()
    assert sorted(row["index"] for row in rows) == [0, 1]
    assert [row["input"] for row in sorted(rows, key=lambda row: row["index"])] == ["", "A number."]
    assert not (tmp_path / "root" / "predictions").exists()


def test_the_writer_writes_the_rows_in_record_order_and_never_overwrites(predict, tmp_path):
    writer = PredictionWriter()
    rows = predict(writer)
    directory = tmp_path / "root" / "predictions"
    assert writer.predictions_file == directory / "questions.jsonl"
    written = [json.loads(line) for line in writer.predictions_file.read_text().splitlines()]
    assert written == sorted(rows, key=lambda row: row["index"])
    assert sorted(path.name for path in directory.iterdir()) == ["questions.jsonl"]  # no partial file left

    again = PredictionWriter(name="answers")
    predict(again)
    predict(again)
    assert (again.predictions_stem, again.predictions_file.name) == ("answers-1", "answers-1.jsonl")


def test_an_unfinished_predict_keeps_its_name(tmp_path):
    # A predict that crashed left its partial file; the next takes the next name rather than mix the two.
    (tmp_path / "questions.rank0.partial.jsonl").write_text('{"index": 0}\n')
    (tmp_path / "other.rank1.jsonl").write_text("")
    assert claim_predictions_stem(tmp_path, "questions", 0) == "questions-1"
    assert (tmp_path / "questions-1.rank0.partial.jsonl").is_file()  # the claim
    assert claim_predictions_stem(tmp_path, "questions", 0) == "questions-2"
    assert claim_predictions_stem(tmp_path, "other", 0) == "other-1"
    assert claim_predictions_stem(tmp_path, "question", 0) == "question"
