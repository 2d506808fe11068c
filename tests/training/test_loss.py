"""The causal LM loss with the LM head at the learned positions only equals the model's own loss and gradients."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from denselora import DenseLoRAConfig, apply_denselora, get_adapter_params
from denselora.training import loss as loss_module
from denselora.training.loss import causal_lm_loss, keeps_selected_logits
from tests.conftest import LLAMA_TARGETS, build_tiny_llama, randomize_adapters


def _batch(seed=0):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, 128, (3, 10), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 7:] = 0  # right padding
    labels = input_ids.clone()
    labels[0, :6] = -100  # a masked prompt
    labels[1, :4] = -100
    labels[1, 7:] = -100  # padding is never learned
    labels[2, :2] = -100
    return input_ids, attention_mask, labels


def _adapted(kind):
    model = build_tiny_llama(dtype=torch.float64)
    if kind == "denselora":
        model = apply_denselora(model, DenseLoRAConfig(r=4, dropout=0.0, target_modules=LLAMA_TARGETS))
        randomize_adapters(model)
        return model, list(get_adapter_params(model).values())
    model = get_peft_model(model, LoraConfig(r=4, target_modules=LLAMA_TARGETS, init_lora_weights=False))
    return model, [p for p in model.parameters() if p.requires_grad]


@pytest.mark.parametrize("kind", ["denselora", "peft-lora"])
def test_the_loss_and_its_gradients_are_the_models_own(kind):
    model, params = _adapted(kind)
    assert keeps_selected_logits(model)
    input_ids, attention_mask, labels = _batch()
    ours = causal_lm_loss(model, input_ids, attention_mask, labels)
    ours_grads = torch.autograd.grad(ours, params)
    reference = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    reference_grads = torch.autograd.grad(reference, params)
    # Both reduce in float32 (the model's loss upcasts its logits to float32 whatever their dtype), over the same
    # tokens in another order.
    torch.testing.assert_close(ours, reference, rtol=1e-6, atol=1e-7)
    for got, want in zip(ours_grads, reference_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_the_head_sees_only_the_learned_positions():
    model = build_tiny_llama(dtype=torch.float64)
    input_ids, attention_mask, labels = _batch()
    seen = []
    model.lm_head.register_forward_hook(lambda module, args, out: seen.append(args[0].shape))
    causal_lm_loss(model, input_ids, attention_mask, labels)
    learned = int((labels[:, 1:] != -100).sum())
    assert seen == [torch.Size([learned, 64])]  # not 3 x 10 rows


def test_a_model_without_masked_logits_gets_its_own_loss():
    class OldStyle(nn.Module):
        """A causal LM whose forward takes no logits_to_keep (older transformers, custom models)."""

        def __init__(self):
            super().__init__()
            self.inner = build_tiny_llama(dtype=torch.float64)

        def forward(self, input_ids, attention_mask, labels=None):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, labels=labels)

    model = OldStyle()
    assert not keeps_selected_logits(model)
    input_ids, attention_mask, labels = _batch()
    expected = model.inner(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
    assert torch.equal(causal_lm_loss(model, input_ids, attention_mask, labels), expected)


def test_no_learned_token_is_nan_as_the_models_own():
    model = build_tiny_llama(dtype=torch.float64)
    input_ids, attention_mask, labels = _batch()
    labels[:] = -100
    assert torch.isnan(causal_lm_loss(model, input_ids, attention_mask, labels))
    assert loss_module.keeps_selected_logits(model)
