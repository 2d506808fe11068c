import torch
from peft import LoraConfig, get_peft_model

from denselora import DenseLoRAConfig, apply_denselora, parameter_report
from tests.conftest import LLAMA_TARGETS, build_tiny_llama


def test_lora_column_is_what_peft_lora_trains():
    report = parameter_report(apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS)))
    peft_model = get_peft_model(build_tiny_llama(), LoraConfig(r=4, lora_alpha=8, target_modules=LLAMA_TARGETS))
    peft_trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert report.lora == peft_trainable
    assert report.lora / report.adapter > 1


def test_counts_come_from_the_tensors():
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4, target_modules=["q_proj", "down_proj"]))
    total = sum(p.numel() for p in model.parameters())
    report = parameter_report(model)
    q, down = report.targets
    assert (q.name, q.layers, q.out_features, q.in_features, q.denselora) == ("q_proj", 2, 64, 64, 4 * 64 * 2 + 2 * 16)
    assert (down.out_features, down.in_features, down.denselora) == (64, 160, 4 * (64 + 160) + 2 * 16)
    assert report.trainable == report.adapter == q.denselora + down.denselora
    assert report.total == total
    assert abs(report.percent - 100 * report.trainable / total) < 1e-12


def test_freeze_counts_only_M_as_trainable():
    config = DenseLoRAConfig(r=4, target_modules=["q_proj"], train_encoder_decoder=False)
    report = parameter_report(apply_denselora(build_tiny_llama(), config))
    assert report.trainable == 2 * 16
    assert report.adapter == 2 * 16 + 4 * (64 + 64)
    assert "32 trainable" in str(report)


def test_meta_device_is_instant():
    with torch.device("meta"):
        model = build_tiny_llama(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80)
    report = parameter_report(apply_denselora(model, DenseLoRAConfig(target_modules=LLAMA_TARGETS)))
    assert report.total > 68_000_000_000
