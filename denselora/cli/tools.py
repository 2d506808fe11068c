"""The commands beside the trainer: ``python -m denselora figure``, ``report``, ``lm-eval`` and ``generate``, which
read finished runs, and ``data``, which fetches the data they are trained and tested on.

Each command module has ``main(argv)`` (an ``argparse`` command line); :func:`run_tool` runs one and turns a
user error into one message on stderr and exit code 2, as the trainer's command line does.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from denselora.cli.console import prepare_console
from denselora.errors import UserError

__all__ = ["COMPUTING", "SUMMARIES", "TOOLS", "run_tool"]

#: Command name -> the module whose ``main(argv)`` runs it.
TOOLS = {
    "figure": "denselora.cli.figure",
    "report": "denselora.cli.report",
    "lm-eval": "denselora.cli.lm_eval",
    "generate": "denselora.cli.generate",
    "data": "denselora.cli.data",
}

#: The commands that run a model, and so share a busy machine's cores (the others read or fetch files).
COMPUTING = frozenset({"lm-eval", "generate"})

#: Command as typed (with its subcommand, where it has one) -> what it does, for ``python -m denselora --help``.
SUMMARIES = {
    "figure": "heatmaps of DenseLoRA's |dM| beside LoRA's |dA|, |dB| from two runs, as a PNG (paper App. B.3)",
    "report": "the evaluation results of several runs as one markdown table (paper Tab. 1)",
    "lm-eval": "lm-evaluation-harness tasks on a run's checkpoint or adapter, or a bare base, offline",
    "generate": "answer instructions (arguments, a file or standard input) with a run's checkpoint or adapter",
    "data download": "the LLM-Adapters test sets and training files, fetched into a folder and checked",
}


def run_tool(name: str, argv: Sequence[str]) -> int:
    """Run the command ``name`` with arguments ``argv``; return the exit code."""
    module = importlib.import_module(TOOLS[name])
    prepare_console(computes=name in COMPUTING)
    try:
        module.main(list(argv))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
