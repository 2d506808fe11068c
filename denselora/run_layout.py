"""The names of the files and folders in a run directory, each named once here.

A run directory is ``<save_dir>/<name>/version_N`` (``runs/quickstart/version_0``). Each entry, with what
writes it -> what reads it::

    version_N/                      the command line claims it (cli.new_run_directory) -> report, figure
    ├── config.yaml                 RunRecordCallback (cli.trainer) -> report, predict (a copy beside its output)
    ├── environment.json            RunRecordCallback: seed, Python, package versions -> whoever checks a run
    ├── hparams.yaml                Lightning's logger -> cli.new_run_directory counts it as a setup record
    ├── parameters.json             AdapterExport as fitting starts (training.adapter_export) -> report
    ├── events.out.tfevents.*       TensorBoardLogger: the logged metrics -> tensorboard --logdir
    ├── update_density.safetensors  UpdateDensityMonitor (callbacks) -> figure
    ├── checkpoints/                ModelCheckpoint, the best on validation -> --ckpt_path, AdapterExport as fit ends
    │   └── last.ckpt               LatestCheckpoint (callbacks) -> --ckpt_path, to resume
    ├── adapter/                    AdapterExport as fit ends -> the adapter method's load, PEFT
    ├── evaluation/                 the Evaluator, in test (or fit with test_after_fit)
    │   ├── results.md              the accuracy table -> the outputs block that ends the command names it
    │   ├── results.json            the same numbers -> report
    │   └── predictions/            <dataset>.jsonl, every answer and its score -> whoever checks a run
    ├── predictions/                predict: <name>.jsonl, beside <name>.config.yaml when in an earlier run
    └── lm_eval/                    the lm-eval command, given a checkpoint or the adapter of this run
        ├── results.md, results.json  lm-eval's table and results dict
        ├── samples_<task>.jsonl    every request and its response (--log_samples)
        └── tasks/llm_adapters/     the LLM-Adapters task YAMLs and docs written from --data_dir

A bare base has no run directory: the lm-eval command writes to ``runs/lm_eval/<model name>/`` for it.

Only the names are here; the modules that write and read the files build their paths from these.
"""

from __future__ import annotations

__all__ = [
    "ADAPTER_EXPORT_DIR",
    "CHECKPOINTS_DIR",
    "CONFIG_FILE",
    "ENVIRONMENT_FILE",
    "EVALUATION_DIR",
    "HPARAMS_FILE",
    "LAST_CHECKPOINT_FILE",
    "LM_EVAL_DIR",
    "PARAMETER_RECORD",
    "PREDICTIONS_DIR",
    "RESULTS_JSON_FILE",
    "RESULTS_MARKDOWN_FILE",
    "SNAPSHOT_FILE",
    "TENSORBOARD_EVENTS_PREFIX",
]

CONFIG_FILE = "config.yaml"
ENVIRONMENT_FILE = "environment.json"
#: Written by Lightning's loggers; named here to recognise it.
HPARAMS_FILE = "hparams.yaml"
PARAMETER_RECORD = "parameters.json"
#: How the names of TensorBoard's event files begin; named here to recognise them.
TENSORBOARD_EVENTS_PREFIX = "events.out."
SNAPSHOT_FILE = "update_density.safetensors"

#: Lightning's own name for ModelCheckpoint's folder (``<log_dir>/checkpoints``); the others follow it.
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT_FILE = "last.ckpt"

ADAPTER_EXPORT_DIR = "adapter"

EVALUATION_DIR = "evaluation"
RESULTS_MARKDOWN_FILE = "results.md"
RESULTS_JSON_FILE = "results.json"
#: ``python -m denselora lm-eval``'s output folder; also ``runs/lm_eval/`` for a bare base.
LM_EVAL_DIR = "lm_eval"

#: Both ``<run>/predictions`` (predict) and ``<run>/evaluation/predictions`` (test).
PREDICTIONS_DIR = "predictions"
