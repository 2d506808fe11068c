"""LightningDataModules for LLM-Adapters-format data: a training JSON and ``dataset/<name>/test.json``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import datasets
import lightning as L
import pyarrow.compute as pc
import torch
import torch.distributed as dist
from lightning.pytorch.utilities import rank_zero_info
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerBase

from denselora.data.collate import PaddingCollator
from denselora.data.download import download_command, fetch_command
from denselora.data.eval_sets import (
    EvalSet,
    PredictSet,
    ScoredPrompts,
    eval_dataloader,
    eval_set_name,
    load_eval_set,
    load_predict_set,
    predict_output_name,
    resolve_predict_file,
    scored_prompts,
    test_file_path,
)
from denselora.data.prompts import TEMPLATES
from denselora.data.protocol import EvaluationData, PredictionData, ResumableData, ValidationGenerationData
from denselora.data.records import load_hub_dataset, load_json_dataset
from denselora.data.resumable import EpochShuffleSampler, ResumableDataLoader
from denselora.data.samplers import LengthGroupedSampler, ShardedTrainingSampler
from denselora.data.targets import TRAIN_TARGETS, apply_train_target
from denselora.data.tokenization import TrainingTokenizer
from denselora.data.truncated_answers import TRUNCATED_ANSWER_ACTIONS, handle_truncated_answers
from denselora.errors import DataError, MissingDataError
from denselora.models.tokenizer import TINY_TOKENIZER, load_tokenizer
from denselora.tasks import COMMONSENSE_DATASETS, MATH_DATASETS

__all__ = ["CommonsenseDataModule", "LLMAdaptersDataModule", "MathDataModule"]

_TRAIN_FIELDS = ("instruction", "output")
_RECORD = "record"  # a record's position in the training file(s), carried through the split for messages
_OTHER_TRAIN_FILES = "set train_file to a path relative to data_dir, an absolute path, or a Hugging Face dataset name"


def _train_hint(path: Path, data_dir: Path) -> str:
    """What to do about a missing training file: the command that fetches it where it is one of LLM-Adapters'
    (a set's own training split, a training file of the paper), else where LLM-Adapters keeps its files."""
    if path.name == "train.json" and path.parent.parent.name == "dataset":
        name = path.parent.name
        command = fetch_command(path.parent.parent.parent, [f"dataset/{name}/train.json"])
        fetch = f"`{command}` fetches it" if command else "copy that folder under data_dir"
        return (
            f"LLM-Adapters keeps each set's training split beside its test set, at dataset/{name}/train.json; "
            f"{fetch}, or set train_file to where the file is."
        )
    command = fetch_command(path.parent.parent, [f"{path.parent.name}/{path.name}"])
    if command:  # one of the paper's training files, where LLM-Adapters keeps it
        return f"`{command}` fetches it (LLM-Adapters' {path.parent.name}/{path.name}), or {_OTHER_TRAIN_FILES}."
    return (
        "LLM-Adapters keeps its training sets in ft-training_set/ (commonsense_170k.json, math_10k.json), which "
        f"`{download_command(data_dir)}` fetches with the rest of its data; or {_OTHER_TRAIN_FILES}."
    )


def _record_keys(records: datasets.Dataset) -> list[tuple[str, str, str]]:
    """``(instruction, input, output)`` of each record: what makes two records the same example."""
    inputs = records["input"] if "input" in records.column_names else [""] * len(records)
    return list(zip(records["instruction"], [value or "" for value in inputs], records["output"], strict=True))


def _say_long_records(records: datasets.Dataset, budget: int | None, what: str, cutoff_len: int) -> None:
    """Name the records so long that only their beginning is tokenized (see :func:`text_budget`)."""
    if budget is None or len(records) == 0:
        return
    fields = [field for field in ("instruction", "input", "output") if field in records.column_names]
    table = records.select_columns(fields).with_format("arrow")[:]  # the rows of a split, not the whole file
    lengths = None
    for field in fields:
        column = pc.fill_null(pc.utf8_length(table.column(field)), 0)
        lengths = column if lengths is None else pc.add(lengths, column)
    long = pc.indices_nonzero(pc.greater(lengths, budget)).to_pylist()
    if not long:
        return
    positions = records[_RECORD] if _RECORD in records.column_names else list(range(len(records)))
    named = ", ".join(str(positions[index]) for index in long[:5]) + (", ..." if len(long) > 5 else "")
    rank_zero_info(
        f"{what}: {len(long)} record(s) longer than {budget:,} characters (record {named}); only the first {budget:,} "
        f"characters of each are tokenized, which hold more than the {cutoff_len} tokens (cutoff_len) it is trained on"
    )


class LLMAdaptersDataModule(
    L.LightningDataModule, ValidationGenerationData, EvaluationData, PredictionData, ResumableData
):
    """Training and evaluation data in the LLM-Adapters layout.

    Training (``fit``): the records of ``train_file`` (fields ``instruction, input, output``), minus
    ``val_size`` held-out validation records (seeded split, as the authors' 120), optionally subsampled to
    ``train_fraction`` (seeded), rendered with ``template`` and tokenized as LLM-Adapters' ``finetune.py``
    does (see :mod:`denselora.data.tokenization`). Batches are right-padded ``{"input_ids", "attention_mask",
    "labels"}`` (``LongTensor[batch, length]``; labels -100 on padding, and on the prompt when
    ``train_on_inputs`` is off).

    Evaluation (``test``): one data loader per name in ``eval_datasets``, reading
    ``<data_dir>/dataset/<name>/test.json``; left-padded prompt batches ``{"input_ids", "attention_mask",
    "index"}``, longest prompts first, each item on exactly one rank. :attr:`eval_sets` holds the items,
    prompts and tasks for :class:`denselora.evaluation.Evaluator`.

    It offers what the fine-tuner's default hooks read (the protocols of :mod:`denselora.data.protocol`):
    :attr:`val_prompts` and :attr:`val_generation_dataloader_idx` with ``val_generation_size``,
    :attr:`eval_sets` for ``test``, :attr:`predict_set` for ``predict``.

    Args:
        data_dir: root of an LLM-Adapters-style tree (test sets at ``dataset/<name>/test.json``).
        train_file: training JSON, relative to ``data_dir`` or absolute, or a Hugging Face dataset name; or a
            list of them, whose records are joined in the order given (e.g. several sets' ``train.json``).
        eval_datasets: test-set folder names; any folder works (its answer rule is inferred from its gold
            answers, or given as ``"<name>:<known dataset>"``).
        train_fraction: fraction of the training records to keep, in (0, 1] (the low-resource study).
        val_size: number of training records held out for validation (0: none).
        cutoff_len: maximum training sequence length in tokens.
        train_on_inputs: compute the loss on the prompt too (the authors' setting).
        truncated_answers: what to do with training and validation records that truncation to ``cutoff_len``
            leaves no label to learn from (with ``train_on_inputs`` off: a prompt that fills ``cutoff_len``):
            ``"drop"`` leaves them out with one warning that counts them and names the first few, ``"error"``
            refuses the data.
        template: ``"alpaca"`` (clean), ``"authors"`` (the whitespace of the authors' training prompt) or
            ``"authors_eval"`` (the whitespace of the authors' evaluation scripts); see
            :mod:`denselora.data.prompts` for the source of each.
        eval_template: template for evaluation prompts; ``None`` uses ``template``.
        tokenizer: a Hugging Face name, a local directory, a ``.gguf`` file, or ``"denselora/tiny"`` (built-in,
            offline); ``None`` (the default): the model's, which the command line gives it (from Python, the
            built-in one unless :meth:`use_tokenizer` is called).
        micro_batch_size: training batch size per device.
        eval_batch_size: validation and generation batch size per device.
        num_workers: data loader worker processes.
        group_by_length: batch training examples of similar length together (less padding).
        seed: seed of the validation split, the fraction subsample and length grouping.
        eval_limit: evaluate only the first ``eval_limit`` items of each test set (quick runs).
        cache_dir: ``datasets`` cache directory (default: ``HF_DATASETS_CACHE``).
        val_generation_size: also generate answers for this many validation records at every validation
            and report their accuracy (``val/accuracy``), scored by the rule their gold answer fits; 0: loss only.
        predict_file: for ``predict``: a JSON list of records with ``instruction`` (and optionally ``input``),
            absolute or relative to the current directory (a relative path found only under ``data_dir`` is
            read from there); each gets a generated answer.
        train_target: what a training and validation record teaches: ``"output"``, its own output (the paper's,
            "the correct answer is answer3"), or ``"option_text"``: a multiple-choice or true/false record asks its
            question without the listed options and answers with the right option's text, the prompt and
            continuation that ``scoring: likelihood`` compares (see :mod:`denselora.data.targets`).
    """

    def __init__(
        self,
        data_dir: str,
        train_file: str | list[str] | None = None,
        eval_datasets: list[str] | None = None,
        train_fraction: float = 1.0,
        val_size: int = 120,
        cutoff_len: int = 256,
        train_on_inputs: bool = True,
        template: str = "alpaca",
        eval_template: str | None = None,
        tokenizer: str | None = None,
        micro_batch_size: int = 4,
        eval_batch_size: int = 16,
        num_workers: int = 0,
        group_by_length: bool = False,
        seed: int = 42,
        eval_limit: int | None = None,
        cache_dir: str | None = None,
        predict_file: str | None = None,
        val_generation_size: int = 0,
        truncated_answers: str = "drop",
        train_target: str = "output",
    ):
        super().__init__()
        if not str(data_dir).strip():
            raise DataError(
                "data_dir is empty, which would read and write the data in the current directory; give the data "
                "folder with --data.init_args.data_dir"
            )
        if train_target not in TRAIN_TARGETS:
            raise DataError(f"train_target must be one of {', '.join(TRAIN_TARGETS)}, got {train_target!r}")
        if train_target == "option_text" and val_generation_size:
            raise DataError(
                "val_generation_size scores generated answers with the paper's label rules (answer3, true), which "
                "train_target option_text no longer teaches; set data.init_args.val_generation_size 0 (the "
                "validation loss still measures the option-text target)"
            )
        if not 0.0 < train_fraction <= 1.0:
            raise DataError(f"train_fraction must be in (0, 1], got {train_fraction}")
        for name, value in (("val_size", val_size), ("num_workers", num_workers)):
            if value < 0:
                raise DataError(f"{name} must be >= 0, got {value}")
        for name, value in (
            ("cutoff_len", cutoff_len),
            ("micro_batch_size", micro_batch_size),
            ("eval_batch_size", eval_batch_size),
        ):
            if value < 1:
                raise DataError(f"{name} must be >= 1, got {value}")
        if eval_limit is not None and eval_limit < 1:
            raise DataError(f"eval_limit must be >= 1 or None, got {eval_limit}")
        if truncated_answers not in TRUNCATED_ANSWER_ACTIONS:
            raise DataError(
                f"truncated_answers must be one of {', '.join(TRUNCATED_ANSWER_ACTIONS)}, got {truncated_answers!r}"
            )
        for name, value in (("template", template), ("eval_template", eval_template or template)):
            if value not in TEMPLATES:
                raise DataError(f"{name} must be one of {', '.join(TEMPLATES)}, got {value!r}")
        names = [eval_set_name(entry) for entry in eval_datasets or []]  # a name that leaves dataset/ is refused
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise DataError(
                f"eval_datasets names {', '.join(repeated)} more than once; each test set's results and predictions "
                "are kept under its name, so name each set once"
            )
        if predict_file is not None:
            predict_output_name(predict_file)
        self.save_hyperparameters()
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.train_file = train_file
        self.eval_dataset_names = list(eval_datasets or [])
        self.train_fraction = train_fraction
        self.val_size = val_size
        self.cutoff_len = cutoff_len
        self.train_on_inputs = train_on_inputs
        self.truncated_answers = truncated_answers
        self.train_target = train_target
        self.template = template
        self.eval_template = eval_template or template
        self.tokenizer_spec = tokenizer if tokenizer is not None else TINY_TOKENIZER
        self.micro_batch_size = micro_batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.group_by_length = group_by_length
        self.seed = seed
        self.eval_limit = eval_limit
        self.cache_dir = cache_dir
        self.predict_file = predict_file
        if val_generation_size < 0:
            raise DataError(f"val_generation_size must be >= 0, got {val_generation_size}")
        self.val_generation_size = val_generation_size
        self.val_prompts: ScoredPrompts | None = None
        self.predict_set: PredictSet | None = None
        self._said_predict_path = False

        self._tokenizer: PreTrainedTokenizerBase | None = None
        self.train_dataset: datasets.Dataset | None = None
        self.val_dataset: datasets.Dataset | None = None
        self.eval_sets: list[EvalSet] | None = None

    # ----------------------------------------------------------------------------------------------- set-up
    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        """The tokenizer named by ``tokenizer`` (loaded on first use)."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer_spec)
        return self._tokenizer

    def use_tokenizer(self, spec: str, tokenizer: PreTrainedTokenizerBase | None = None) -> None:
        """Read the data with the model's tokenizer: its ``spec`` (recorded, and compared on resume) and, when
        the model has loaded it already, the tokenizer itself (so it is not loaded twice).

        Raises:
            DataError: the data was tokenized already, with another tokenizer.
        """
        if spec != self.tokenizer_spec and self.train_dataset is not None:
            raise DataError(f"the data is tokenized with {self.tokenizer_spec!r} already; set the tokenizer first")
        self.tokenizer_spec = spec
        self.hparams["tokenizer"] = spec
        self._tokenizer = tokenizer

    def train_sources(self) -> list[Path | str]:
        """Where the training records come from: file paths, or Hugging Face dataset names (``str``)."""
        if not self.train_file:
            raise DataError("train_file is not set; give the training JSON (e.g. ft-training_set/math_10k.json)")
        names = [self.train_file] if isinstance(self.train_file, str) else list(self.train_file)
        sources: list[Path | str] = []
        for name in names:
            given = Path(name).expanduser()
            candidate = given if given.is_absolute() else self.data_dir / given
            sources.append(candidate if candidate.exists() or given.suffix in (".json", ".jsonl") else name)
        return sources

    def load_train_records(self) -> datasets.Dataset:
        """All validated training records (before the validation split and the fraction)."""
        parts = [
            load_json_dataset(
                source, _TRAIN_FIELDS, missing_hint=_train_hint(source, self.data_dir), cache_dir=self.cache_dir
            )
            if isinstance(source, Path)
            else load_hub_dataset(source, _TRAIN_FIELDS, cache_dir=self.cache_dir)
            for source in self.train_sources()
        ]
        if len(parts) == 1:
            return parts[0]
        # Files may carry other fields (some an ``answer``, some not): join on the fields all of them have.
        shared = [name for name in parts[0].column_names if all(name in part.column_names for part in parts)]
        return datasets.concatenate_datasets([part.select_columns(shared) for part in parts])

    def split_train_records(self, records: datasets.Dataset) -> tuple[datasets.Dataset, datasets.Dataset | None]:
        """The seeded validation split and training fraction: ``(train records, validation records or None)``.

        Exact duplicates (same instruction, input and output) are counted and reported in one line, and a copy
        of a validation record that the seeded split put in training is left out of it, so that validation never
        measures a record the model was trained on. The split itself is the seeded split of all records, as
        without duplicates: only those copies leave the training records.

        The validation records do not depend on ``train_fraction``, so runs with different fractions are
        validated on the same records; the fraction is drawn from what remains.
        """
        keys = _record_keys(records)
        copies = len(keys) - len(set(keys))
        validation = None
        leaked = 0
        if self.val_size:
            if self.val_size >= len(records):
                raise DataError(
                    f"val_size={self.val_size} leaves no training records ({len(records)} in total); lower val_size"
                )
            split = records.train_test_split(test_size=self.val_size, shuffle=True, seed=self.seed)
            records, validation = split["train"], split["test"]
            if copies:
                held = set(_record_keys(validation))
                kept = [index for index, key in enumerate(_record_keys(records)) if key not in held]
                leaked = len(records) - len(kept)
                if leaked:
                    records = records.select(kept)
        if copies:
            rank_zero_info(
                f"training data: {copies} of {len(keys)} records repeat an earlier record exactly (same instruction, "
                f"input and output); {leaked} copies of validation records left out of training"
            )
        if len(records) == 0:
            raise DataError(
                f"{self.train_file}: no training record is left once the {len(validation)} validation records and "
                f"their {leaked} copies are held out (every record repeats a validation record); give more distinct "
                "records, or a smaller val_size"
            )
        if self.train_fraction < 1.0:
            keep = max(1, round(len(records) * self.train_fraction))
            records = records.shuffle(seed=self.seed).select(range(keep))
        return records, validation

    def _tokenize(self, records: datasets.Dataset, what: str) -> datasets.Dataset:
        function = TrainingTokenizer(self.tokenizer, self.template, self.cutoff_len, self.train_on_inputs)
        _say_long_records(records, function.budget, what, self.cutoff_len)
        tokenized = records.map(function, batched=True, remove_columns=records.column_names, desc=f"Tokenizing {what}")
        positions = records[_RECORD] if _RECORD in records.column_names else range(len(records))
        return handle_truncated_answers(tokenized, positions, self.truncated_answers, what, self.cutoff_len)

    def setup(self, stage: str | None = None) -> None:
        """Load and tokenize what ``stage`` needs (cached by ``datasets``; calling it again is cheap)."""
        if stage in ("fit", "validate", None) and self.train_file is not None and self.train_dataset is None:
            records = self.load_train_records()
            records = apply_train_target(records, self.train_target, str(self.train_file))
            records = records.add_column(_RECORD, list(range(len(records))))
            if stage == "fit":
                self.check_eval_files()
            train, validation = self.split_train_records(records)
            self.train_dataset = self._tokenize(train, "training data")
            self.val_dataset = None if validation is None else self._tokenize(validation, "validation data")
            if validation is not None and self.val_generation_size:
                if "answer" not in validation.column_names:
                    raise DataError(
                        f"{self.train_file}: the records have no 'answer' field, which val_generation_size needs to "
                        "score the answers it generates; add one to each record (as LLM-Adapters' training files "
                        "have) or set data.init_args.val_generation_size 0"
                    )
                chosen = validation.select(range(min(self.val_generation_size, len(validation))))
                self.val_prompts = scored_prompts(chosen, "validation", self.tokenizer, self.eval_template)
        if stage == "predict":
            if self.predict_set is None:
                self.predict_set = self.load_predict_set()
            return
        if stage in ("test", None) and self.eval_sets is None:
            if not self.eval_dataset_names:
                if stage is None:
                    return
                raise DataError("eval_datasets is empty; name the test sets to evaluate (folders under dataset/)")
            self.eval_sets = [
                load_eval_set(self.data_dir, entry, self.tokenizer, self.eval_template, self.eval_limit, self.cache_dir)
                for entry in self.eval_dataset_names
            ]

    # ------------------------------------------------------------------------------------------ dataloaders
    def train_dataloader(self) -> DataLoader:
        if self.train_dataset is None:
            self.setup("fit")
        if self.train_dataset is None:
            raise DataError("no training data: set train_file")
        collate = PaddingCollator(self.tokenizer.pad_token_id, padding_side="right", pad_to_multiple_of=8)
        # Both orders are functions of (seed, epoch), so a run resumed mid-epoch sees the batches it would have.
        if self.group_by_length:
            order = LengthGroupedSampler(list(self.train_dataset["length"]), self.micro_batch_size, self.seed)
        else:
            order = EpochShuffleSampler(len(self.train_dataset), self.seed)
        sampler = ShardedTrainingSampler(order, *self._rank_and_world())
        return ResumableDataLoader(
            self.train_dataset,
            batch_size=self.micro_batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # Its own generator: creating an epoch's iterator draws a seed, and drawing it from the global RNG
            # would shift the dropout masks of a resumed run.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def val_dataloader(self) -> DataLoader | list:
        """The validation loss loader; with ``val_generation_size``, also a loader of prompts to answer."""
        if self.train_dataset is None:
            self.setup("validate")
        if self.val_dataset is None:
            return []
        loss = DataLoader(
            self.val_dataset,
            batch_size=self.eval_batch_size,
            shuffle=False,
            collate_fn=PaddingCollator(self.tokenizer.pad_token_id, padding_side="right", pad_to_multiple_of=8),
            num_workers=self.num_workers,
        )
        if self.val_prompts is None:
            return loss
        rank, world_size = self._rank_and_world()
        prompts = eval_dataloader(
            self.val_prompts, self.tokenizer.pad_token_id, self.eval_batch_size, rank, world_size, self.num_workers
        )
        return [loss, prompts]

    def resume_settings(self) -> dict[str, Any]:
        """What a resumed run compares to know it continues this one (see
        :class:`~denselora.data.protocol.ResumableData`); :class:`~denselora.callbacks.ResumeCheck` decides which
        changes it refuses (a moved ``data_dir`` is only announced)."""
        settings: dict[str, Any] = {
            f"data.{name}": value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
            for name, value in (
                ("train_file", self.train_file), ("data_dir", self.data_dir), ("train_fraction", self.train_fraction),
                ("val_size", self.val_size), ("cutoff_len", self.cutoff_len), ("train_on_inputs", self.train_on_inputs),
                ("template", self.template), ("tokenizer", self.tokenizer_spec),
                ("group_by_length", self.group_by_length), ("seed", self.seed),
            )
        }  # fmt: skip
        settings["global micro-batch"] = self.micro_batch_size * self._rank_and_world()[1]
        if self.train_dataset is not None:
            settings["training records"] = len(self.train_dataset)
            # A training file edited in place keeps its path and perhaps its count; its tokens change.
            settings["training and validation tokens (sha256)"] = self.token_fingerprint()
        return settings

    def token_fingerprint(self) -> str | None:
        """A SHA-256 of the training and validation token ids and labels, in order (``None`` before ``setup``):
        what a resumed run compares to know it trains on the same examples, whatever the files' names say."""
        if self.train_dataset is None:
            return None
        digest = hashlib.sha256()
        for dataset in (self.train_dataset, self.val_dataset):
            for column in ("input_ids", "labels"):
                if dataset is None or column not in dataset.column_names:
                    continue
                array = dataset.data.column(column).combine_chunks()
                digest.update(array.offsets.to_numpy(zero_copy_only=False).tobytes())
                digest.update(array.values.to_numpy(zero_copy_only=False).tobytes())
        return digest.hexdigest()

    @property
    def val_generation_dataloader_idx(self) -> int | None:
        """1 when :meth:`val_dataloader` returns prompts to answer after the loss loader, else ``None``."""
        return 1 if self.val_dataset is not None and self.val_prompts is not None else None

    def _rank_and_world(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is not None:
            return trainer.global_rank, trainer.world_size
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def test_dataloader(self) -> list[DataLoader]:
        """One loader per evaluation set, in ``eval_datasets`` order (``dataloader_idx`` = position)."""
        if self.eval_sets is None:
            self.setup("test")
        rank, world_size = self._rank_and_world()
        return [
            eval_dataloader(
                eval_set,
                self.tokenizer.pad_token_id,
                self.eval_batch_size,
                rank,
                world_size,
                self.num_workers,
            )
            for eval_set in self.eval_sets
        ]

    def check_eval_files(self) -> None:
        """Fail now, not after hours of training, if a test set named in ``eval_datasets`` is missing.

        Raises:
            MissingDataError: naming every missing test file.
        """
        paths = {name: test_file_path(self.data_dir, name) for name in map(eval_set_name, self.eval_dataset_names)}
        missing = {name: path for name, path in paths.items() if not path.is_file()}
        if missing:
            known = [name for name in missing if fetch_command(self.data_dir, [f"dataset/{name}/test.json"])]
            command = fetch_command(self.data_dir, [f"dataset/{name}/test.json" for name in known])
            if not known:
                fix = "Copy the dataset/<name>/ folders there"
            elif len(known) == len(missing):
                fix = f"`{command}` fetches them"
            else:
                fix = f"`{command}` fetches {', '.join(known)}; copy the other dataset/<name>/ folders there"
            raise MissingDataError(
                f"test set(s) named in eval_datasets not found: {', '.join(map(str, missing.values()))}. {fix}, or "
                "remove those names from data.init_args.eval_datasets."
            )

    def predict_path(self) -> Path:
        """The file ``predict`` answers: ``predict_file`` as a shell path, else under ``data_dir`` (older use).

        Raises:
            DataError: ``predict_file`` is not set.
            MissingDataError: the file is in neither place.
        """
        if self.predict_file is None:
            raise DataError("predict needs data.init_args.predict_file: a JSON of records with an 'instruction'")
        path, in_data_dir = resolve_predict_file(self.predict_file, self.data_dir)
        if in_data_dir and not self._said_predict_path:
            # Said once: the CLI checks the file before the model loads, and setup reads it again.
            self._said_predict_path = True
            rank_zero_info(
                f"{self.predict_file} is not in the current directory ({Path.cwd()}); reading {path} under "
                "data_dir instead"
            )
        return path

    def load_predict_set(self) -> PredictSet:
        return load_predict_set(self.predict_path(), self.tokenizer, self.eval_template)

    def predict_dataloader(self) -> DataLoader:
        if self.predict_set is None:
            self.setup("predict")
        rank, world_size = self._rank_and_world()
        return eval_dataloader(
            self.predict_set, self.tokenizer.pad_token_id, self.eval_batch_size, rank, world_size, self.num_workers
        )


class CommonsenseDataModule(LLMAdaptersDataModule):
    """Commonsense reasoning: train on ``commonsense_170k.json``, evaluate on the eight commonsense sets.

    Same arguments as :class:`LLMAdaptersDataModule`; the defaults are the authors' recipe (verbatim
    template, ``cutoff_len`` 256, 120 validation records, micro-batch 4).
    """

    def __init__(
        self,
        data_dir: str,
        train_file: str | list[str] | None = "ft-training_set/commonsense_170k.json",
        eval_datasets: list[str] | None = None,
        template: str = "authors",
        **kwargs: Any,
    ):
        eval_datasets = list(COMMONSENSE_DATASETS) if eval_datasets is None else eval_datasets
        super().__init__(
            data_dir=data_dir, train_file=train_file, eval_datasets=eval_datasets, template=template, **kwargs
        )


class MathDataModule(LLMAdaptersDataModule):
    """Arithmetic reasoning: train on ``math_10k.json``, evaluate on the seven math sets.

    Same arguments as :class:`LLMAdaptersDataModule`; the defaults are the authors' recipe.
    """

    def __init__(
        self,
        data_dir: str,
        train_file: str | list[str] | None = "ft-training_set/math_10k.json",
        eval_datasets: list[str] | None = None,
        template: str = "authors",
        **kwargs: Any,
    ):
        eval_datasets = list(MATH_DATASETS) if eval_datasets is None else eval_datasets
        super().__init__(
            data_dir=data_dir, train_file=train_file, eval_datasets=eval_datasets, template=template, **kwargs
        )
