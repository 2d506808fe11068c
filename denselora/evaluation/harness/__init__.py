"""lm-evaluation-harness on any denselora model, offline: ``python -m denselora lm-eval`` and its parts.

- :mod:`~denselora.evaluation.harness.loading`: the model to evaluate, from a run's checkpoint, an exported
  adapter folder (DenseLoRA's or PEFT's format) or a bare base;
- :mod:`~denselora.evaluation.harness.lm`: :class:`DenseLoRALM`, lm-eval's Hugging Face ``LM`` on that model,
  registered in lm-eval as ``denselora`` when imported;
- :mod:`~denselora.evaluation.harness.llm_adapters`: lm-eval task files for the LLM-Adapters commonsense test sets,
  read from a local copy;
- :mod:`~denselora.evaluation.harness.task_loading`: tasks by name, their data loaded offline
  (:mod:`~denselora.evaluation.harness.offline`);
- :mod:`~denselora.evaluation.harness.requirement`: lm-eval is optional (``pip install -e ".[eval]"``).

Everything here but :class:`DenseLoRALM` and :func:`~denselora.evaluation.harness.task_loading.load_tasks` works
without lm-eval installed; ``DenseLoRALM`` is imported on first use (``from denselora.evaluation.harness import
DenseLoRALM``), which needs lm-eval.
"""

from __future__ import annotations

from typing import Any

from denselora.evaluation.harness.llm_adapters import (
    LLM_ADAPTERS_SETS,
    WrittenTasks,
    llm_adapters_task_names,
    read_docs,
    write_llm_adapters_tasks,
)
from denselora.evaluation.harness.loading import LoadedModel, check_model_options, load_model, run_dir_of
from denselora.evaluation.harness.requirement import INSTALL_HINT, require_lm_eval

__all__ = [
    "INSTALL_HINT",
    "LLM_ADAPTERS_SETS",
    "DenseLoRALM",
    "LoadedModel",
    "WrittenTasks",
    "check_model_options",
    "llm_adapters_task_names",
    "load_model",
    "read_docs",
    "require_lm_eval",
    "run_dir_of",
    "write_llm_adapters_tasks",
]


def __getattr__(name: str) -> Any:
    # lm-eval is optional: the LM class, which subclasses lm-eval's, is imported only when asked for.
    if name == "DenseLoRALM":
        require_lm_eval()
        from denselora.evaluation.harness.lm import DenseLoRALM

        return DenseLoRALM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
