import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from denselora import DenseLoRAConfig, apply_denselora, parameter_report
from denselora.methods import LoRA
from denselora.methods.denselora.parameter_report import ParameterCount, count_parameters
from denselora.training.parameters_json import parameter_record
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


def test_one_count_serves_the_report_the_peft_summary_and_the_run_record():
    model = apply_denselora(build_tiny_llama(), DenseLoRAConfig(r=4, target_modules=LLAMA_TARGETS))
    count = count_parameters(model)
    report = parameter_report(model)
    assert (report.trainable, report.total, report.percent) == (count.trainable, count.total, count.percent)
    assert str(count) in str(report).splitlines()[0]
    record = parameter_record(model, "denselora", 4)
    assert (record["trainable"], record["total"], record["trainable_percent"]) == (
        count.trainable,
        count.total,
        count.percent,
    )
    lora = LoRA(r=4)
    peft_model = lora.apply(build_tiny_llama())
    assert lora.summary(peft_model) == f"lora r=4: {count_parameters(peft_model)}"
    assert count_parameters(nn.Linear(2, 3).requires_grad_(False)) == ParameterCount(trainable=0, total=9)
    assert ParameterCount(trainable=0, total=0).percent == 0.0
