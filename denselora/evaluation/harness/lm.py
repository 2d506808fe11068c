"""lm-evaluation-harness's ``LM`` for a denselora model, registered in lm-eval as ``denselora``.

:class:`DenseLoRALM` is lm-eval's own Hugging Face model class (``HFLM``), given a model that
:mod:`~denselora.evaluation.harness.loading` built from a run's checkpoint, an exported adapter folder or a bare
base: lm-eval's tokenisation, batching and scoring apply unchanged. Importing this module registers it, after which
lm-eval finds it by name::

    import lm_eval
    import denselora.evaluation.harness.lm  # registers "denselora"

    results = lm_eval.simple_evaluate(
        model="denselora", model_args="ckpt_path=runs/x/version_0/checkpoints/last.ckpt", tasks=[...]
    )

lm-eval 0.4.13 discovers models only through its registry, filled by the modules imported in the process: its
``lm_eval.api.registry`` has no entry-point lookup (it accepts an entry point as a registered target, but never
reads installed packages' entry points), so ``lm_eval --model denselora`` on the shell cannot find this class.
``python -m denselora lm-eval`` is the command for it.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from denselora.evaluation.harness.loading import LoadedModel, load_model

__all__ = ["DenseLoRALM"]

#: lm-eval's warnings when it is handed a built model: they are about launching it with accelerate, which this
#: class does not do, and would read as a problem on every run.
_BUILT_MODEL_WARNINGS = ("`pretrained` model kwarg is not of type `str`", "Passed an already-initialized model")


class _DropBuiltModelWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_BUILT_MODEL_WARNINGS)


@register_model("denselora")
class DenseLoRALM(HFLM):
    """A denselora model as an lm-eval ``LM``: one of ``ckpt_path``, ``adapter``, ``pretrained`` (see
    :func:`~denselora.evaluation.harness.loading.load_model`), or an already loaded model.

    Args:
        ckpt_path: a run's checkpoint (``<run>/checkpoints/last.ckpt``).
        adapter: an exported adapter folder (``<run>/adapter``), DenseLoRA's or PEFT's format.
        pretrained: a bare base to evaluate, or the base of ``adapter`` (default: the run's config.yaml's).
        tokenizer: the tokenizer spec (default: the run's).
        dtype: the weights' dtype, ``float32``, ``bfloat16``, ... (default: the run's, else float32).
        device: where to run (default: ``cuda`` when available, else ``cpu``).
        batch_size: items per forward pass, or ``"auto"`` (lm-eval finds the largest that fits).
        loaded: a :class:`~denselora.evaluation.harness.loading.LoadedModel` to evaluate instead of loading one.
        **kwargs: ``HFLM``'s other arguments (``max_length``, ``max_batch_size``, ``softmax_dtype``, ...).
    """

    def __init__(
        self,
        ckpt_path: str | None = None,
        adapter: str | None = None,
        pretrained: str | None = None,
        tokenizer: str | None = None,
        dtype: str | None = None,
        device: str | None = None,
        batch_size: int | str = 16,
        loaded: LoadedModel | None = None,
        **kwargs: Any,
    ) -> None:
        if loaded is None:
            loaded = load_model(ckpt_path, adapter, pretrained, tokenizer=tokenizer, dtype=dtype)
        self.loaded = loaded
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        # A built model is used where it is: lm-eval reads its device instead of moving it.
        model = loaded.model.to(device)
        hf_logger = logging.getLogger(HFLM.__module__)
        quiet = _DropBuiltModelWarnings()
        hf_logger.addFilter(quiet)
        try:
            super().__init__(pretrained=model, tokenizer=loaded.tokenizer, batch_size=batch_size, **kwargs)
        finally:
            hf_logger.removeFilter(quiet)

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None) -> DenseLoRALM:
        """Build from lm-eval's ``model_args`` string, as ``simple_evaluate(model="denselora", model_args=...)`` does.

        Args:
            arg_string: ``key=value`` pairs separated by commas: ``ckpt_path=...`` (or ``adapter=...``, optionally
                with ``pretrained=...``, or ``pretrained=...`` alone), and any of ``tokenizer``, ``dtype``,
                ``device``, ``batch_size`` and ``HFLM``'s own options.
            additional_config: ``simple_evaluate``'s ``batch_size``, ``max_batch_size`` and ``device``; those that
                are ``None`` are left to the model's defaults.
        """
        from lm_eval.utils import simple_parse_args_string

        arguments = simple_parse_args_string(arg_string)
        arguments.update({key: value for key, value in (additional_config or {}).items() if value is not None})
        return cls(**arguments)

    def get_model_info(self) -> dict:
        """What was evaluated, for lm-eval's ``results["config"]``; never asks the hub (``HFLM``'s looks the model
        up there, which would wait for the network on a machine without one)."""
        return {
            "model_source": self.loaded.describe(),
            "model_kind": self.loaded.kind,
            "adapter_method": self.loaded.method,
            "base_model": self.loaded.base,
            "model_num_parameters": sum(p.numel() for p in self.model.parameters()),
            "model_dtype": str(next(self.model.parameters()).dtype),
        }
