"""The LightningModule: a Hugging Face causal LM, an adapter method, the authors' optimisation and evaluation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn
from torchmetrics.aggregation import MeanMetric

from denselora.distributed import full_tensor, reshard, shard_model
from denselora.dtypes import DTYPES
from denselora.errors import ConfigError
from denselora.methods.base import AdapterMethod
from denselora.models.choice import choose_base, choose_tokenizer
from denselora.models.source import BaseModelSource
from denselora.models.tokenizer import load_tokenizer
from denselora.training import checkpoint_contents
from denselora.training.adapter_export import AdapterExport
from denselora.training.best import best_checkpoint
from denselora.training.divergence_stop import DivergenceStop
from denselora.training.evaluation_steps import EvaluationSteps
from denselora.training.finetuner_settings import check_finetuner_settings
from denselora.training.loss import causal_lm_loss
from denselora.training.schedule import LearningRateSchedule, warmup_then_linear_decay
from denselora.training.telemetry import TrainingTelemetry, log_norm_and_clip

__all__ = ["FineTuner", "best_checkpoint", "warmup_then_linear_decay"]


class FineTuner(EvaluationSteps):
    """Fine-tunes a causal language model with one adapter method.

    Subclass it for a new task. The hooks meant to be overridden are:

    - :meth:`build_base_model`: how the frozen base is created (default: the ``base`` source's weights;
      a subclass that overrides it needs no ``base``, ``pretrained`` or ``model_config``);
    - :meth:`compute_loss`: the training and validation objective for a batch (default: the causal LM loss
      on ``labels``, ``-100`` masked);
    - what ``test``, ``predict`` and validation's scored answers do: the hooks of
      :class:`~denselora.training.evaluation_steps.EvaluationSteps` (default: generate, score with the task
      registry, write the results; see :mod:`denselora.evaluation`).

    Every run also gets the module's own callbacks (:meth:`configure_callbacks`): :class:`TrainingTelemetry`
    (tokens/s), :class:`DivergenceStop` (a non-finite loss stops the run before anything after it is written) and
    :class:`AdapterExport` (``parameters.json`` at the start, the best adapter exported at the end); the gradient
    norm is logged where the gradients are clipped (:meth:`configure_gradient_clipping`). These callbacks and the
    logging read nothing back from the device during a training step; Lightning reads the logged values when it
    writes the logs. The learning rate follows a :class:`~denselora.training.schedule.LearningRateSchedule`,
    through which callbacks add parameter groups or change the peak.

    The arguments are kept in ``hparams`` and each checkpoint's ``hyper_parameters``, in plain values (see
    :func:`~denselora.training.checkpoint_contents.plain_hyperparameters`); a command given a checkpoint still runs
    with its own config's.

    Args:
        adapter: the method (``class_path`` in YAML): ``denselora.methods.DenseLoRA`` or a PEFT baseline
            (``LoRA``, ``DoRA``, ``VeRA``).
        base: where the frozen base comes from (``class_path`` in YAML): a :mod:`denselora.models` source
            (``HuggingFaceModel``, ``GGUFModel``, ``ConfigModel``, ``QuickstartBase``) or your own.
        pretrained: shorthand for ``base``: a Hugging Face model name, a local model folder, a ``.gguf`` file
            (or ``pkg:<package>/<file>.gguf``), or ``denselora/quickstart-base`` (a tiny base the project
            builds offline, see :mod:`denselora.quickstart.base_model`).
        model_config: shorthand for ``base``: a config dict for a randomly initialised model built offline
            (``model_type`` plus the config's fields, e.g. a tiny LLaMA); ``vocab_size`` defaults to the
            tokenizer's size.
        tokenizer: the tokenizer spec; ``None`` (the default): the base's own (a GGUF file's, a Hugging Face
            model's, the quickstart base's), or the built-in ``denselora/tiny`` for a model built from a config.
            The command line gives the data module the same one.
        dtype: dtype to load the base weights in (``bfloat16`` on GPU); ``None`` keeps float32.
        learning_rate: AdamW peak learning rate (authors: 3e-4).
        weight_decay: AdamW weight decay (authors: 0).
        warmup_steps: linear warmup length in optimizer steps (authors: 100), then linear decay to zero.
        gradient_checkpointing: recompute activations in backward (non-reentrant, so adapter gradients flow
            through frozen embeddings and shared tensors).
        num_beams: beam width for ``test`` generation (authors: 4; 1 is greedy).
        max_new_tokens: overrides each task's generation budget in ``test`` (default: 32 commonsense, 256 math).
        scoring: how ``test`` scores: ``"generate"`` (the paper's protocol, the default), ``"likelihood"`` (each
            option's log-probability after the prompt: ``acc`` and ``acc_norm``, for multiple-choice and
            true/false sets) or ``"both"`` (see :class:`~denselora.evaluation.Evaluator`).
    """

    def __init__(
        self,
        adapter: AdapterMethod,
        base: BaseModelSource | None = None,
        pretrained: str | None = None,
        model_config: dict[str, Any] | None = None,
        tokenizer: str | None = None,
        dtype: str | None = None,
        learning_rate: float = 3e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 100,
        gradient_checkpointing: bool = False,
        num_beams: int = 4,
        max_new_tokens: int | None = None,
        scoring: Literal["generate", "likelihood", "both"] = "generate",
    ) -> None:
        super().__init__()
        # hparams (and the checkpoints' hyper_parameters): under the command line, the config's values; from
        # Python, these arguments, objects as their class and settings, so a checkpoint holds plain values only.
        self.save_hyperparameters()
        if not checkpoint_contents.is_plain(dict(self.hparams)):
            self.save_hyperparameters(checkpoint_contents.plain_hyperparameters(self.hparams))
        builds_its_own = type(self).build_base_model is not FineTuner.build_base_model
        base = choose_base(base, pretrained, model_config, required=not builds_its_own)
        check_finetuner_settings(dtype, learning_rate, weight_decay, warmup_steps, num_beams, max_new_tokens, scoring)
        self.adapter = adapter
        self.base = base
        self.tokenizer_spec = choose_tokenizer(tokenizer, base)
        self.dtype_name = dtype
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.gradient_checkpointing = gradient_checkpointing
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens
        self.scoring = scoring
        self.model: nn.Module | None = None
        self._tokenizer = None
        self.val_accuracy = MeanMetric()
        # Checkpoints hold the adapter only; the base comes from `pretrained`/`model_config` on every load.
        self.strict_loading = False

    # ---------------------------------------------------------------------------------------------- model
    @property
    def tokenizer(self):
        """The run's tokenizer (``tokenizer_spec``), loaded on first use."""
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.tokenizer_spec)
        return self._tokenizer

    def build_base_model(self) -> nn.Module:
        """Create the frozen base model: the ``base`` source's, in ``dtype`` (override for another way)."""
        return self.base.build(DTYPES[self.dtype_name] if self.dtype_name else None, self.tokenizer)

    def build_base_skeleton(self) -> nn.Module | None:
        """The base model's architecture on the meta device (no weights), to check the adapter against it
        before any data or weights load. ``None`` (no ``base`` source) skips the check."""
        return None if self.base is None else self.base.skeleton(self.tokenizer)

    def prepare_data(self) -> None:
        # Bad targets or ranks surface here, in a second, rather than after the data and the weights load.
        if self.base is not None:
            self.base.prepare()  # once per node (a build, a conversion), then loaded by every rank
        skeleton = self.build_base_skeleton()
        if skeleton is not None:
            self.adapter.apply(skeleton)

    def configure_model(self) -> None:
        if self.model is not None:
            return
        # The random initialisation (a model_config base, the adapter) is a function of the run's seed alone,
        # not of whatever drew from the global RNG before (a strategy's set-up differs between 1 and N devices).
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self._build_model()

    def ensure_model(self) -> nn.Module:
        """The adapted model, built now if Lightning has not built it yet, as its own ``configure_model`` call would
        (in the strategy's and the precision's contexts).

        Lightning calls ``configure_model`` after the callbacks' ``setup`` and just before ``configure_optimizers``,
        with no callback hook in between: a callback that changes what trains before the optimizer is built
        (:class:`~denselora.callbacks.FreezeEncoderDecoder`) asks for the model in its ``setup``. ``configure_model``
        is idempotent, so Lightning's own call then finds the model built.
        """
        if self.model is None:
            strategy = self.trainer.strategy
            with (
                strategy.tensor_init_context(),
                strategy.model_sharded_context(),
                self.trainer.precision_plugin.module_init_context(),
            ):
                self.configure_model()
        return self.model

    def _build_model(self) -> None:
        base = self.build_base_model()
        if self.gradient_checkpointing:
            # Non-reentrant: the reentrant kind yields no gradient when the checkpointed block's inputs
            # (frozen embeddings) do not require grad, and reruns hooks that DDP counts twice.
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            base.config.use_cache = False
        self.model = self.adapter.apply(base)
        mesh = self.device_mesh  # set by the FSDP strategy (denselora.distributed), else None
        if mesh is not None:  # the FSDP strategy: shard after adapting, so the adapters are sharded too
            self.model = shard_model(self.model, mesh["data_parallel"])
        # from_pretrained returns a model in eval mode; the new module must follow the LightningModule's mode
        # (training), or the adapter's dropout would silently stay off during fit.
        self.model.train(self.training)

    def forward(self, **batch: Tensor):
        return self.model(**batch)

    # ------------------------------------------------------------------------------------------- training
    def compute_loss(self, batch: dict[str, Tensor]) -> Tensor:
        """The objective for a batch (override for another task): causal LM loss over ``labels``, the LM head
        applied only where a token is learned (see :func:`denselora.training.loss.causal_lm_loss`)."""
        return causal_lm_loss(self.model, batch["input_ids"], batch["attention_mask"], batch["labels"])

    def configure_callbacks(self) -> list[Callback]:
        """The callbacks every run of this module gets (see the class docstring), but those the trainer has
        already: one given to the Trainer stays as it was configured, and a second command of the same trainer
        (``test`` after ``fit``) does not add them again."""
        present = {type(callback) for callback in self.trainer.callbacks} if self._trainer is not None else set()
        own = (TrainingTelemetry(), DivergenceStop(), AdapterExport())
        return [callback for callback in own if type(callback) not in present]

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self.compute_loss(batch)
        # Not in Lightning's progress-bar metrics, which it converts to numbers after every batch: a read back from
        # the device each step. The bars show it from the callback metrics (denselora.callbacks.progress).
        self.log("train/loss", loss, batch_size=batch["input_ids"].size(0))
        return loss

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Logs ``train/grad_norm`` and clips, computing the norm once
        (:func:`~denselora.training.telemetry.log_norm_and_clip`). Lightning calls it at every optimizer step, after
        every callback's ``on_before_optimizer_step``; an override that does not call this one logs no norm."""
        log_norm_and_clip(self, optimizer, gradient_clip_val, gradient_clip_algorithm)

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0) -> Tensor | None:
        """The validation loss of a batch; on the loader that the data module names for it
        (:class:`~denselora.data.protocol.ValidationGenerationData`), greedy answers scored into ``val/accuracy``."""
        datamodule = self.trainer.datamodule
        if dataloader_idx == getattr(datamodule, "val_generation_dataloader_idx", None):
            self.validate_generation(batch)
            return None
        loss = self.compute_loss(batch)
        self.log(
            "val/loss",
            loss,
            prog_bar=True,
            sync_dist=True,
            batch_size=batch["input_ids"].size(0),
            add_dataloader_idx=False,
        )
        return loss

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def configure_optimizers(self):
        params = self.trainable_parameters()
        if not params:
            raise ConfigError("the adapter left no trainable parameter; check its settings")
        optimizer = torch.optim.AdamW(params, lr=self.learning_rate, weight_decay=self.weight_decay)
        schedule = LearningRateSchedule(optimizer, self.lr_factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def lr_factor(self, step: int) -> float:
        """Linear warmup to the peak, then linear decay to zero at the last step (the authors' schedule).

        The length of the run is asked for only once warmup is over: ``trainer.estimated_stepping_batches``
        sets up the training data loader, and doing that while the optimizers are configured (before a
        checkpoint is restored) would keep Lightning from restoring the loader's mid-epoch position.
        """
        if step < self.warmup_steps:
            return warmup_then_linear_decay(step, self.warmup_steps, 0)
        return warmup_then_linear_decay(step, self.warmup_steps, int(self.trainer.estimated_stepping_batches))

    @property
    def run_dir(self) -> Path | None:
        """The run directory (the logger's), where the config, the adapter and the evaluation go.

        Rank 0 broadcasts it (``Trainer.log_dir``), so every rank must ask, never rank 0 alone.
        """
        if self._trainer is None:
            return None
        log_dir = self.trainer.log_dir
        return Path(log_dir) if log_dir else Path(self.trainer.default_root_dir)

    # -------------------------------------------------------------------------------------- checkpointing
    def adapter_state(self) -> dict[str, Tensor]:
        """The adapter's tensors, whole even when sharded (a collective under FSDP: every rank calls it)."""
        reshard(self.model)
        return {k: full_tensor(v) for k, v in self.adapter.adapter_tensors(self.model).items()}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint_contents.write(checkpoint, self.adapter, self.model, self.adapter_state())

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Testing or predicting only needs tensors that mean the same; a resumed fit also needs the same recipe.
        resuming = self._trainer is not None and self.trainer.state.fn == TrainerFn.FITTING
        checkpoint_contents.check(checkpoint, self.adapter, self.model, resuming)
        checkpoint_contents.restore_rng(checkpoint)
