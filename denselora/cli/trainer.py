"""``python -m denselora {fit,validate,test,predict}``: LightningCLI over the fine-tuner and the data modules."""

from __future__ import annotations

import contextlib
import difflib
import inspect
import json
import logging
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import threading
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from jsonargparse.typing import import_object
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from denselora.callbacks import LatestCheckpoint, PredictionWriter, ResumeCheck
from denselora.callbacks.progress import named_progress_bar
from denselora.cli.console import prepare_console
from denselora.cli.help import PROG, DenseLoRAArgumentParser
from denselora.cli.new_run_directory import claim_version, latest_checkpoint, release_if_unused, trained_outputs
from denselora.cli.settings import check_logger, check_seed, check_trainer_settings
from denselora.data import LLMAdaptersDataModule
from denselora.distributed import FSDP_STRATEGY_NAME
from denselora.distributed.process_group import close_process_group
from denselora.errors import ConfigError, MissingRunFileError, RunDirectoryError, UserError
from denselora.evaluation import check_scoring
from denselora.models import BaseModelSource
from denselora.models.choice import choose_base, choose_tokenizer
from denselora.run_layout import (
    ADAPTER_EXPORT_DIR,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    ENVIRONMENT_FILE,
    EVALUATION_DIR,
    LAST_CHECKPOINT_FILE,
    PREDICTIONS_DIR,
    RESULTS_MARKDOWN_FILE,
)
from denselora.training import FineTuner
from denselora.training.atomic_checkpoint_io import readable_checkpoint
from denselora.training.best import best_checkpoint

__all__ = ["DenseLoRACLI", "main"]

#: ``--ckpt_path`` values that Lightning resolves itself.
_LIGHTNING_CHECKPOINT_NAMES = ("last", "best", "hpc", "registry")

#: Run directories this process claimed; those a failed command left empty are removed.
CLAIMED_RUN_DIRECTORIES: list[Path] = []

_RECORDED_PACKAGES = (
    "denselora", "torch", "lightning", "transformers", "datasets", "peft", "torchmetrics", "safetensors",
)  # fmt: skip


class RunRecordCallback(SaveConfigCallback):
    """Saves the resolved config (``config.yaml``) and the seed and package versions (``environment.json``)."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Trainer.log_dir is a collective (rank 0 broadcasts it); ask on every rank, before the rank-0-only save.
        self._log_dir = trainer.log_dir or trainer.default_root_dir
        super().setup(trainer, pl_module, stage)

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().save_config(trainer, pl_module, stage)
        log_dir = self._log_dir
        if trainer.is_global_zero and log_dir:
            versions = {}
            for name in _RECORDED_PACKAGES:
                try:
                    versions[name] = metadata.version(name)
                except metadata.PackageNotFoundError:
                    versions[name] = None
            record = {
                "seed": _int_or_none(os.environ.get("PL_GLOBAL_SEED")),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "packages": versions,
            }
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            (Path(log_dir) / ENVIRONMENT_FILE).write_text(json.dumps(record, indent=2) + "\n")


class DenseLoRACLI(LightningCLI):
    """LightningCLI with the project's defaults: best-on-validation checkpoints, learning-rate logging,
    TensorBoard, and one tokenizer for model and data (the base's own unless a config names one)."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/loss",
                "checkpoint.mode": "min",
                "checkpoint.save_top_k": 1,
                "checkpoint.save_last": False,  # last.ckpt is LatestCheckpoint's
                "checkpoint.filename": "step{step}-val_loss{val/loss:.4f}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_lightning_class_args(LatestCheckpoint, "latest_checkpoint")
        parser.add_lightning_class_args(ResumeCheck, "resume")
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.set_defaults({"lr_monitor.logging_interval": "step"})
        # Every subcommand accepts it, so that one config serves fit, test and predict; only fit reads it.
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=False,
            help="After fit, run test on the best checkpoint (other subcommands ignore it).",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        from jsonargparse import ArgumentError

        try:
            super().parse_arguments(parser, args)
        except ArgumentError as err:
            # jsonargparse would print the whole usage (dozens of lines) before the one line that matters.
            raise ConfigError(_parse_error_message(parser, args, str(err))) from None
        # Before LightningCLI seeds (it does so right after parsing) and before anything loads.
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        check_seed(config.get("seed_everything"))
        check_trainer_settings(config.get("trainer") or {})
        check_logger(config.get("trainer") or {})
        self._resolve_last_checkpoint(config)
        self._check_checkpoint_path()

    def _resolve_last_checkpoint(self, config: Any) -> None:
        """``--ckpt_path last``: the ``last.ckpt`` of the newest run under the logger's folder.

        Lightning would look for it in the run directory this command is about to create, find none, and start
        from scratch with a warning; the run meant is the latest one before it.
        """
        if config.get("ckpt_path") != "last":
            return
        logger = (config.get("trainer") or {}).get("logger")
        init_args = getattr(logger, "init_args", None)
        if init_args is None:
            return
        root = _logger_root(init_args)
        found = latest_checkpoint(root)
        if found is None:
            raise MissingRunFileError(
                f"--ckpt_path last: no run under {root} has a {CHECKPOINTS_DIR}/{LAST_CHECKPOINT_FILE}; give the "
                "checkpoint's path, or the logger's save_dir and name of the run to resume"
            )
        config.ckpt_path = str(found)
        _print_on_rank_zero(f"--ckpt_path last: {found}")

    def _check_checkpoint_path(self) -> None:
        """A local ``--ckpt_path`` must be a readable checkpoint long before the model is built. Memory-mapped,
        the check parses the file's index and record without reading its tensors, which the trainer loads later
        anyway."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or str(ckpt_path).split(":")[0] in _LIGHTNING_CHECKPOINT_NAMES or "://" in str(ckpt_path):
            return
        with readable_checkpoint(ckpt_path):
            torch.load(ckpt_path, weights_only=True, map_location="cpu", mmap=True)

    def _parse_ckpt_path(self) -> None:
        """Leave the config as the command line and the config files made it.

        LightningCLI would read a ``--ckpt_path``'s ``hyper_parameters`` (the fine-tuner's arguments, which it
        saves) and apply them over the config, so that ``test --ckpt_path x --model.init_args.num_beams 1`` would
        run with the checkpoint's beams. Here the command decides; whether the checkpoint fits it is the
        adapter record's to say (:func:`denselora.training.checkpoint_contents.check`).
        """

    def before_instantiate_classes(self) -> None:
        self._name_the_tokenizer_once()
        self._refuse_to_overwrite_a_trained_run()
        self._check_checkpoint_folder()
        self._claim_run_directories()

    def _name_the_tokenizer_once(self) -> None:
        """Model and data read with one tokenizer: the one ``data.init_args.tokenizer`` or
        ``model.init_args.tokenizer`` names, else the base's own, so that a config names its base once. Both
        settings then hold it, in the run's ``config.yaml`` too."""
        model_args = self._get(self.config, "model", default={}).get("init_args") or {}
        data_args = self._get(self.config, "data", default={}).get("init_args") or {}
        holders = [args for args in (data_args, model_args) if "tokenizer" in args]
        given = {args.get("tokenizer") for args in holders} - {None}
        if len(given) > 1:
            raise ConfigError(
                f"data.init_args.tokenizer {data_args.get('tokenizer')!r} and model.init_args.tokenizer "
                f"{model_args.get('tokenizer')!r} differ; the data must be read with the model's tokenizer, so name "
                "it once (or neither: the base's own is used)"
            )
        if not holders:
            return
        spec = given.pop() if given else choose_tokenizer(None, _base_source(model_args))
        for args in holders:
            args["tokenizer"] = spec

    def _refuse_to_overwrite_a_trained_run(self) -> None:
        """``fit`` into a run directory named by an explicit logger version, which already holds what an earlier
        fit trained (checkpoints or an exported adapter), would overwrite them; only resuming from one of them
        may write there."""
        if self.config.get("subcommand") != "fit":
            return
        ckpt_path = self._get(self.config, "ckpt_path")
        loggers = self._get(self.config, "trainer", default={}).get("logger")
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            init_args = getattr(logger, "init_args", None)
            version = None if init_args is None else init_args.get("version")
            if version is None:
                continue
            folder = f"version_{version}" if isinstance(version, int) else str(version)
            run_dir = _logger_root(init_args) / folder
            trained = trained_outputs(run_dir)
            resuming = ckpt_path is not None and Path(str(ckpt_path)).resolve().is_relative_to(run_dir.resolve())
            if trained and not resuming:
                raise RunDirectoryError(
                    f"{run_dir} holds a trained run ({', '.join(trained)}), which this fit would overwrite; leave out "
                    "--trainer.logger.init_args.version to start a new version beside it, or resume that run with "
                    f"--ckpt_path {run_dir / CHECKPOINTS_DIR / LAST_CHECKPOINT_FILE}"
                )

    def _check_checkpoint_folder(self) -> None:
        """A ``--checkpoint.dirpath`` that ``fit`` cannot write to would fail only after the first steps, and one
        that holds another run's checkpoints would have them overwritten (unless resuming from one of them)."""
        dirpath = getattr(self._get(self.config, "checkpoint", default=None), "dirpath", None)
        if self.config.get("subcommand") != "fit" or not dirpath:
            return
        try:
            Path(dirpath).mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=dirpath).close()
        except OSError as err:
            raise RunDirectoryError(
                f"--checkpoint.dirpath {dirpath} cannot be written ({err.strerror or err}); choose a folder you "
                "can write to"
            ) from None
        held = sorted(path.name for path in Path(dirpath).glob("*.ckpt"))
        ckpt_path = self._get(self.config, "ckpt_path")
        resuming = ckpt_path is not None and Path(str(ckpt_path)).resolve().parent == Path(dirpath).resolve()
        if held and not resuming:
            raise RunDirectoryError(
                f"--checkpoint.dirpath {dirpath} holds another run's checkpoints ({', '.join(held[:3])}), which "
                "this fit would overwrite; give each run a folder of its own (leave dirpath out: each run then "
                f"keeps them in its own <run>/{CHECKPOINTS_DIR}/), or resume from one of them with --ckpt_path"
            )

    def _claim_run_directories(self) -> None:
        """Give each versioned logger a ``version_N`` directory that no concurrent run can also take.

        Only the first process claims: in a distributed run the others follow rank 0's directory, which
        Lightning broadcasts as ``trainer.log_dir``.
        """
        if rank_zero_only.rank != 0:
            return
        loggers = self._get(self.config, "trainer", default={}).get("logger")
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            class_path = getattr(logger, "class_path", None)
            init_args = getattr(logger, "init_args", None)
            if class_path is None or init_args is None or init_args.get("version") is not None:
                continue
            logger_class = _import_class(class_path)
            if not (isinstance(logger_class, type) and issubclass(logger_class, (TensorBoardLogger, CSVLogger))):
                continue
            root = _logger_root(init_args)
            try:
                label = self._run_label()
                version, path = claim_version(root, label)
                init_args.version = path.name if label else version
            except OSError as err:
                raise RunDirectoryError(
                    f"cannot create a run directory in {root}: {err.strerror or err}; choose a folder you can write "
                    "to with --trainer.logger.init_args.save_dir"
                ) from None
            CLAIMED_RUN_DIRECTORIES.append(path)

    def _run_label(self) -> str | None:
        """What a run directory's name says besides its number: nothing for ``fit``; the command for the others,
        with ``-zero-shot`` when no checkpoint is given (the base's own answers)."""
        subcommand = self.config.get("subcommand")
        if subcommand in (None, "fit"):
            return None
        return subcommand if self._get(self.config, "ckpt_path") is not None else f"{subcommand}-zero-shot"

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        strategy = self._get(self.config_init, "trainer", default={}).get("strategy")
        if strategy == "fsdp":
            raise ConfigError(
                "--trainer.strategy fsdp is Lightning's FSDP1, whose flat parameters would mix the frozen base with "
                f"trainable adapters and cannot hold the shared encoder/decoder pairs; use --trainer.strategy "
                f"{FSDP_STRATEGY_NAME} (FSDP2, adapter-only checkpoints)"
            )
        try:
            trainer = super().instantiate_trainer(**kwargs)
        except (ValueError, MisconfigurationException) as err:  # the Trainer refuses its settings
            raise ConfigError(f"trainer settings: {err}") from None
        self._choose_the_progress_display(trainer)
        return trainer

    def _choose_the_progress_display(self, trainer: Trainer) -> None:
        """Swap Lightning's default progress bar for one that names each test set, or, when standard error is
        no terminal, for plain progress lines; a bar the config chose is left as it is."""
        # The parsed config, not the instantiated one: the Trainer appends its default bar to that list.
        configured = self._get(self.config, "trainer", default={}).get("callbacks") or []
        for callback in configured if isinstance(configured, list) else [configured]:
            class_path = callback.get("class_path") if hasattr(callback, "get") else None
            chosen = import_object(class_path) if isinstance(class_path, str) else type(callback)
            if isinstance(chosen, type) and issubclass(chosen, ProgressBar):
                return
        default = trainer.progress_bar_callback
        if default is not None:
            terminal = sys.stderr.isatty()  # a bar redrawn in a file shows nothing until it ends: lines there
            trainer.callbacks[trainer.callbacks.index(default)] = named_progress_bar(default, terminal)

    def before_fit(self) -> None:
        if self.trainer.max_steps == 0 or self.trainer.max_epochs == 0:
            setting = "max_steps" if self.trainer.max_steps == 0 else "max_epochs"
            raise ConfigError(
                f"--trainer.{setting} 0 trains nothing, and would export the adapter as it was initialised; to "
                "evaluate that (the base model's own answers), run test instead of fit"
            )
        self._warn_if_no_validation_will_run()
        if self._get(self.config, "test_after_fit", default=False):
            self._check_test_sets()

    def _warn_if_no_validation_will_run(self) -> None:
        """A run shortened with ``max_steps`` below the validation interval would validate never, keep no best
        checkpoint, and say nothing."""
        trainer = self.trainer
        interval = trainer.val_check_interval
        if trainer.max_steps <= 0 or not isinstance(interval, int) or trainer.limit_val_batches == 0:
            return
        batches = trainer.max_steps * trainer.accumulate_grad_batches
        if interval > batches:
            _print_on_rank_zero(
                f"warning: no validation will run: --trainer.val_check_interval is {interval} training batches and "
                f"this run trains {batches} ({trainer.max_steps} optimizer steps x {trainer.accumulate_grad_batches}"
                f" accumulated); lower --trainer.val_check_interval to validate (and keep a best checkpoint)"
            )

    def _check_test_sets(self) -> None:
        """Before training, what the test after it would refuse: a set the model's ``scoring`` cannot score."""
        scoring = getattr(self.model, "scoring", None)
        setup = getattr(self.datamodule, "setup", None)
        if scoring is None or not getattr(self.datamodule, "eval_dataset_names", None) or setup is None:
            return
        setup("test")  # loads and tokenizes the test sets, which the test then finds loaded
        check_scoring(self.datamodule.eval_sets, scoring)

    def before_test(self) -> None:
        _ignore_moved_checkpoint_folder()
        self._warn_without_checkpoint("test")

    def after_test(self) -> None:
        self._print_outputs("test")

    def after_validate(self) -> None:
        self._print_outputs("validate")

    def before_validate(self) -> None:
        _ignore_moved_checkpoint_folder()

    def before_predict(self) -> None:
        _ignore_moved_checkpoint_folder()
        self._warn_without_checkpoint("predict")
        predict_path = getattr(self.datamodule, "predict_path", None)
        if callable(predict_path):
            predict_path()  # a missing file is reported now, before the base model loads
        if self._prediction_writer() is None:  # the module returns the rows; the writer puts them in files
            self.trainer.callbacks.append(PredictionWriter())

    def _prediction_writer(self) -> PredictionWriter | None:
        return next((c for c in self.trainer.callbacks if isinstance(c, PredictionWriter)), None)

    def after_predict(self) -> None:
        """When the predictions went to the checkpoint's run, keep this command's config beside them
        (``<name>.config.yaml``) and remove the new run directory, which then holds nothing else; otherwise end
        with the outputs block, as the other commands do."""
        writer = self._prediction_writer()
        written = writer.predictions_file if writer is not None else None
        elsewhere = [
            run_dir
            for run_dir in CLAIMED_RUN_DIRECTORIES
            if written is not None and not Path(written).resolve().is_relative_to(run_dir.resolve())
        ]
        if not elsewhere:
            self._print_outputs("predict")
            return
        if rank_zero_only.rank != 0:
            return
        for run_dir in elsewhere:
            config = run_dir / CONFIG_FILE
            if config.is_file():
                record = Path(written).parent / f"{writer.predictions_stem}.config.yaml"
                shutil.copyfile(config, record)
                _print_on_rank_zero(f"the config of these predictions: {record}")
            release_if_unused(run_dir)

    def _warn_without_checkpoint(self, subcommand: str) -> None:
        if self._get(self.config, "ckpt_path") is None:
            _print_on_rank_zero(
                f"warning: {subcommand} without --ckpt_path uses the adapter as initialised, which leaves the base "
                "model's output unchanged: these are the base model's own answers. For a trained adapter, add "
                "--ckpt_path <run>/checkpoints/<checkpoint>.ckpt"
            )

    def after_fit(self) -> None:
        if self._get(self.config, "test_after_fit", default=False):
            self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best_checkpoint(self.trainer))
        self._print_outputs("fit")

    def _print_outputs(self, subcommand: str) -> None:
        """End the command with where its outputs are, since the progress bars and tables above do not say."""
        log_dir = self.trainer.log_dir  # a collective: every rank asks
        if self.trainer.is_global_zero and log_dir:
            print(outputs_block(subcommand, Path(log_dir)), flush=True)


def _base_source(model_args: Any) -> BaseModelSource | None:
    """The base a model's arguments name, as the fine-tuner chooses it (:func:`~denselora.models.choice.choose_base`),
    with a ``base`` still in its parsed form (``class_path`` and ``init_args``) built first."""
    base = model_args.get("base")
    if base is not None and not isinstance(base, BaseModelSource):
        init_args = base.get("init_args")
        values = init_args.as_dict() if hasattr(init_args, "as_dict") else dict(init_args or {})
        base = import_object(base["class_path"])(**values)
    return choose_base(base, model_args.get("pretrained"), model_args.get("model_config"), required=False)


def main(args: list[str] | None = None) -> None:
    """Run the command line; user errors print one message and exit with code 2."""
    _quiet_known_messages()
    prepare_console()
    previous_sigint = _stop_on_sigint()
    try:
        DenseLoRACLI(
            FineTuner,
            LLMAdaptersDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=RunRecordCallback,
            save_config_kwargs={"overwrite": True, "config_filename": CONFIG_FILE},
            trainer_defaults={
                "plugins": [{"class_path": "denselora.training.atomic_checkpoint_io.AtomicCheckpointIO"}],
                "logger": {
                    "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                    # No placeholder hp_metric of -1: no metric is chosen to stand for a run's hyperparameters.
                    "init_args": {"save_dir": "runs", "name": "denselora", "default_hp_metric": False},
                },
            },
            parser_class=DenseLoRAArgumentParser,
            parser_kwargs={
                "prog": PROG,
                "exit_on_error": False,
                # No abbreviations: a misspelt option that happens to prefix a real one must not run silently.
                "allow_abbrev": False,
                # Each command's parser knows its name, for its short --help.
                **{command: {"command": command} for command in DenseLoRACLI.subcommands()},
            },
            args=args,
        )
        close_process_group(finished=True)
    except SIGTERMException:
        # Lightning's own handler (outside training: validation, test, predict) exits with code 0, which a
        # scheduler reads as success; during training LatestCheckpoint stops the run itself, after saving.
        print("error: stopped by SIGTERM before the command finished", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)
    except Interrupted:
        print("error: stopped by SIGINT before the command finished", file=sys.stderr)
        sys.exit(128 + signal.SIGINT)
    except Exception as err:
        user_error = _user_error_in(err)
        if user_error is None:
            raise
        print(f"error: {user_error}", file=sys.stderr)
        sys.exit(2)
    finally:
        if previous_sigint is not None:
            signal.signal(signal.SIGINT, previous_sigint)
        failed = sys.exc_info()[0] is not None
        if failed:
            with contextlib.suppress(Exception):  # the error being raised is what the user must see
                close_process_group(finished=False)
        while CLAIMED_RUN_DIRECTORIES:
            path = CLAIMED_RUN_DIRECTORIES.pop()
            if failed:
                release_if_unused(path)


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) outside a training step, or a second one during training.

    Not a ``KeyboardInterrupt``: Lightning ends the process on one with exit code 1 and no word of why; this one it
    passes on after its clean-up, and the command exits with ``128 + SIGINT`` and a stop message, as for SIGTERM.
    """


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise Interrupted


def _stop_on_sigint() -> Any:
    """Install the SIGINT handler that raises :class:`Interrupted` (in the main thread, where handlers live);
    return the handler it replaced, or ``None`` when none was replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, _raise_interrupted)


@rank_zero_only
def _print_on_rank_zero(message: str) -> None:
    print(message, file=sys.stderr)


def _logger_root(init_args: Any) -> Path:
    """The folder a TensorBoard or CSV logger keeps its ``version_N`` run directories in: ``save_dir/name``."""
    save_dir = init_args.get("save_dir") or "lightning_logs"
    name = init_args.get("name")
    return Path(save_dir, name) if name else Path(save_dir)


def _import_class(class_path: str) -> Any:
    from jsonargparse.typing import import_object

    try:
        return import_object(class_path)
    except (ImportError, AttributeError, ValueError):
        return None  # jsonargparse reports the bad class path itself, when it instantiates


def _int_or_none(value: str | None) -> int | None:
    return None if value is None else int(value)


def _user_error_in(err: BaseException) -> UserError | None:
    """The UserError behind ``err``: itself, or the cause that jsonargparse wrapped while building a class."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, UserError):
            return err
        if isinstance(err, ValueError) and "`val_check_interval`" in str(err):
            # The fit loop checks it against the epoch only once the data is loaded; its message is clear.
            return ConfigError(f"trainer settings: {str(err).strip()}")
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def outputs_block(subcommand: str, run_dir: Path) -> str:
    """The lines that end a command: the run directory and those of its outputs that exist."""
    rows = []
    adapter = run_dir / ADAPTER_EXPORT_DIR
    if subcommand == "fit" and adapter.is_dir():
        rows.append(("adapter", adapter))
    checkpoints = run_dir / CHECKPOINTS_DIR
    if subcommand == "fit" and checkpoints.is_dir():
        rows.append(("checkpoints", checkpoints))
    results = run_dir / EVALUATION_DIR / RESULTS_MARKDOWN_FILE
    if subcommand in ("fit", "test") and results.is_file():
        rows.append(("evaluation results", results))
        rows.append(("predictions", results.parent / PREDICTIONS_DIR))
    predictions = run_dir / PREDICTIONS_DIR
    if subcommand == "predict" and predictions.is_dir():
        rows.append(("predictions", predictions))
    lines = [f"{subcommand} finished; outputs in {run_dir}"]
    lines += [f"  {label + ':':<20}{path}" for label, path in rows]
    lines.append(f"  {'TensorBoard:':<20}tensorboard --logdir {run_dir.parent}")
    return "\n".join(lines)


#: Lightning's advertisements for its cloud services, printed into the progress bars of every run.
_LIGHTNING_TIPS = ("💡 Tip: For seamless cloud",)


class _DropLightningTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_LIGHTNING_TIPS)


def _quiet_known_messages() -> None:
    """Silence the messages, named one by one, that say nothing a user of this command can act on."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropLightningTips) for f in logger.filters):
        logger.addFilter(_DropLightningTips())
    # Lightning's own use of a torch API that newer torch deprecates; only a Lightning release can change it.
    warnings.filterwarnings("ignore", message=re.escape("`isinstance(treespec, LeafSpec)` is deprecated"))


def _ignore_moved_checkpoint_folder() -> None:
    """``test``, ``validate`` and ``predict`` write to a run directory of their own, so the checkpoint's
    ModelCheckpoint folder always differs from theirs; Lightning's warning that it will not track the checkpoint's
    best score again concerns only a resumed ``fit``."""
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from .* therefore `best_model_score`")


def _unknown_class_argument(reason: str) -> str | None:
    """One line for an argument a class does not take (``--model.init_args.learnig_rate``), with the closest
    one it does take; ``None`` when ``reason`` is about something else."""
    option = re.search(r"Option '([\w.]+)' is not accepted", reason)
    keys = re.findall(r'Parser key "(\w+)"', reason)
    classes = re.findall(r"Problem with given class_path '([\w.]+)'", reason)
    if option is None or not keys or not classes:
        return None
    prefix = "--" + "".join(f"{key}.init_args." for key in keys)
    name = option.group(1)
    try:
        owner = import_object(classes[-1])
    except (ImportError, AttributeError, ValueError):
        owner = None
    accepted = []  # the class's arguments, and those its **kwargs pass on to the classes above it
    for cls in getattr(owner, "__mro__", ()):
        init = cls.__dict__.get("__init__")
        if init is not None:
            accepted += [
                p.name for p in inspect.signature(init).parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD
            ]
    close = difflib.get_close_matches(name, accepted, n=1)
    line = f"{prefix}{name}: {classes[-1].rpartition('.')[2]} takes no argument {name!r}"
    return line + (f"; did you mean {prefix}{close[0]}?" if close else "")


def _parse_error_message(parser: LightningArgumentParser, args: Any, reason: str) -> str:
    """jsonargparse's reason, a close option name for an unknown one, and where to find the options."""
    action = getattr(parser, "_subcommands_action", None)
    choices = action.choices if action is not None else {}
    given = [str(a) for a in (sys.argv[1:] if args is None else args)]
    subcommand = next((a for a in given if a in choices), "")
    message = reason.strip().splitlines()[0] if reason.strip() else "invalid arguments"
    unknown = re.match(r"unrecognized arguments: (--[^\s=]+)", message)
    if unknown:
        subparser = choices.get(subcommand)
        options = [o for action in subparser._actions for o in action.option_strings] if subparser else []
        close = difflib.get_close_matches(unknown.group(1), options, n=1)
        if close:
            message += f"; did you mean {close[0]}?"
    more = reason.strip().splitlines()[1:]
    nested = _unknown_class_argument(reason)
    if nested is not None:
        message = nested  # instead of jsonargparse's account of each type it tried
    elif more:
        message += "\n" + "\n".join(more)
    if subcommand:  # an option the short --help does not list may be any of them
        return f"{message}\nrun: {PROG} {subcommand} --help-all, for every option"
    return f"{message}\nrun: {PROG} --help, for the commands"
