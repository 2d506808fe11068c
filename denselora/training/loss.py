"""The causal language-model loss, with the LM head applied only where a token is learned.

The LM head of a small model is a large share of its work (SmolLM2-135M: a 576 x 49,152 product per position,
a fifth of the model's multiply-adds), yet with ``train_on_inputs: false`` most positions have no label: the
prompt's logits would be computed, and in backward multiplied through, only to be ignored. Hugging Face models
take ``logits_to_keep`` as a boolean ``(batch, length)`` mask and apply the head to the kept rows only; the
loss is then the same mean over the learned tokens as the model's own (``ForCausalLMLoss``).
"""

from __future__ import annotations

import functools
import inspect
import sys

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from denselora.data.tokenization import IGNORE_INDEX

__all__ = ["causal_lm_loss", "keeps_selected_logits"]


def causal_lm_loss(model: nn.Module, input_ids: Tensor, attention_mask: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy of each learned token given the tokens before it: Hugging Face's causal LM loss.

    Args:
        model: a Hugging Face causal LM, possibly adapted (DenseLoRA, PEFT) or sharded.
        input_ids: ``LongTensor[batch, length]``.
        attention_mask: ``LongTensor[batch, length]``, 0 on padding.
        labels: ``LongTensor[batch, length]``, the token to learn at each position, ``-100`` where none is.

    Returns:
        A scalar: the mean over every position ``t`` with ``labels[:, t + 1] != -100`` of the loss of predicting
        that label; NaN when no position has one, as the model's own loss.
    """
    if not keeps_selected_logits(model):
        return model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    # Position t predicts token t + 1; the last position predicts nothing.
    learned = torch.zeros_like(labels, dtype=torch.bool)
    learned[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=learned).logits
    targets = labels[:, 1:][learned[:, :-1]].to(logits.device)
    return F.cross_entropy(logits.float(), targets)


def keeps_selected_logits(model: nn.Module) -> bool:
    """Whether ``model`` applies its LM head only at the positions a boolean ``logits_to_keep`` mask selects."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT wraps the HF model
    return _class_keeps_selected_logits(type(base))


@functools.cache
def _class_keeps_selected_logits(cls: type) -> bool:
    # The masked form arrived with transformers' slice_logits_to_keep; a model class whose module uses it takes
    # the mask, an older one takes only a count. (FSDP2 subclasses the model's class, hence the walk up.)
    for klass in cls.__mro__:
        forward = klass.__dict__.get("forward")
        if forward is None:
            continue
        module = sys.modules.get(klass.__module__)
        return "logits_to_keep" in inspect.signature(forward).parameters and hasattr(module, "slice_logits_to_keep")
    return False
