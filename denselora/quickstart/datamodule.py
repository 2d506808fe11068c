"""The quickstart's data: the project's own synthetic reasoning sets, written on first use, no download."""

from __future__ import annotations

import json
from pathlib import Path

from denselora.data.datamodule import LLMAdaptersDataModule
from denselora.errors import DataError
from denselora.quickstart.synthetic import QUICKSTART_EVAL_DATASETS, QUICKSTART_TRAIN_FILE, write_quickstart_data

__all__ = ["QuickstartDataModule"]


class QuickstartDataModule(LLMAdaptersDataModule):
    """:class:`LLMAdaptersDataModule` over the synthetic sets of :func:`write_quickstart_data`.

    The sets (true/false questions, multiple choice, arithmetic word problems, each scored by the rules of
    the real datasets they imitate) are written to ``data_dir`` the first time they are needed.

    Args:
        data_dir: where the synthetic tree lives (written if missing).
        data_seed: seed of the generated records.
        train_size: number of generated training records.
        test_size: number of generated records per test set.
        **kwargs: the other :class:`LLMAdaptersDataModule` arguments.
    """

    def __init__(
        self,
        data_dir: str = "runs/quickstart-data",
        train_file: str = QUICKSTART_TRAIN_FILE,
        eval_datasets: list[str] | None = None,
        data_seed: int = 0,
        train_size: int = 3000,
        test_size: int = 100,
        **kwargs,
    ) -> None:
        super().__init__(
            data_dir=data_dir,
            train_file=train_file,
            eval_datasets=list(eval_datasets or QUICKSTART_EVAL_DATASETS),
            **kwargs,
        )
        self.data_seed = data_seed
        self.train_size = train_size
        self.test_size = test_size

    def prepare_data(self) -> None:
        # The sets are a function of these settings; a tree written with others is written again.
        manifest = Path(self.data_dir) / "quickstart.json"
        settings = {"seed": self.data_seed, "train_size": self.train_size, "test_size": self.test_size}
        current = json.loads(manifest.read_text()) if manifest.is_file() else None
        if current != settings or not (Path(self.data_dir) / self.train_file).is_file():
            try:
                write_quickstart_data(self.data_dir, self.data_seed, self.train_size, self.test_size)
                manifest.write_text(json.dumps(settings) + "\n")
            except OSError as err:
                raise DataError(
                    f"cannot write the quickstart's data to {self.data_dir}: {err.strerror or err}; give a folder you "
                    "can write to with --data.init_args.data_dir"
                ) from None

    def setup(self, stage: str | None = None) -> None:
        self.prepare_data()  # idempotent; also covers use outside a Trainer
        super().setup(stage)
