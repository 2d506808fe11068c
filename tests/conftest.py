"""Shared fixtures: tiny models built offline from configs, nothing downloaded; and the run's hygiene.

The suite runs as root in CI and in containers, where a stray write can replace a device or litter the home
folder. Caches that libraries keep in the user's home or in ``/tmp`` (datasets, inductor, matplotlib) go to a
scratch folder for the run, removed at its end, and the run fails if it changed ``/dev`` or left files in the
checkout that git neither tracks nor ignores.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

# Set before torch, transformers and matplotlib load, since some of them read these at import. A process the
# tests start (a CLI run, a spawned worker) inherits the variables and so shares the run's scratch folder.
_SCRATCH_ENV = "DENSELORA_TEST_SCRATCH"
_OWNS_SCRATCH = _SCRATCH_ENV not in os.environ
if _OWNS_SCRATCH:
    os.environ[_SCRATCH_ENV] = tempfile.mkdtemp(prefix="denselora-tests-")
SCRATCH = Path(os.environ[_SCRATCH_ENV])
#: Library caches that would otherwise land in $HOME or /tmp.
_SCRATCH_CACHES = {
    "HF_DATASETS_CACHE": "hf-datasets",
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
    "TRITON_CACHE_DIR": "triton",
    "MPLCONFIGDIR": "matplotlib",
}
for _variable, _folder in _SCRATCH_CACHES.items():
    os.environ[_variable] = str(SCRATCH / _folder)

import pytest  # noqa: E402
import torch  # noqa: E402

# Without a GPU, Triton's kernels run in its interpreter, which Triton chooses as it is first imported: by the
# Triton kernels' tests, or by inductor in a torch.compile test, whichever runs first.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from denselora.methods import targets as adapter_targets  # noqa: E402

# `import denselora` imports Lightning (through the quickstart, which the package imports for its registrations).
# Lightning keeps its messages to a handler of its own when the root logger has none as it loads, as while pytest
# loads this file; the tests read them through the root logger (caplog), as Lightning sends them when it loads
# into a process whose logging is set up.
_LIGHTNING_LOGGER = logging.getLogger("lightning.pytorch")
if not _LIGHTNING_LOGGER.propagate:
    _LIGHTNING_LOGGER.handlers.clear()
    _LIGHTNING_LOGGER.propagate = True

# The thread count the suite runs with, stated, so that commands run in it (in process and in subprocesses)
# keep PyTorch's default and do not warn that the machine is busy: the busy one is the suite itself.
os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))

REPO = Path(__file__).resolve().parents[1]
#: Character devices a stray write could replace, with their minor numbers (major 1), to say how to restore them.
DEVICES = {"/dev/null": 3, "/dev/zero": 5, "/dev/random": 8, "/dev/urandom": 9}


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWNS_SCRATCH:
        shutil.rmtree(SCRATCH, ignore_errors=True)
        del os.environ[_SCRATCH_ENV]


def stray_files(repo: Path = REPO) -> set[str] | None:
    """Files in the checkout that git neither tracks nor ignores; ``None`` outside a git checkout."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "-z"],
            cwd=repo, capture_output=True, check=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {name for name in listed.stdout.decode().split("\0") if name}


def machine_damage(strays_before: set[str] | None, devices: dict[str, int] = DEVICES, repo: Path = REPO) -> list[str]:
    """What the run changed that it must not have: devices that are no longer character devices, new files
    in the checkout that are neither tracked nor ignored."""
    problems = []
    for device, minor in devices.items():
        try:
            mode = os.lstat(device).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISCHR(mode):
            problems.append(
                f"{device} is no longer a character device (a test wrote or renamed over it); as root, restore it "
                f"with: rm {device} && mknod -m 666 {device} c 1 {minor}"
            )
    strays_after = stray_files(repo)
    if strays_before is not None and strays_after is not None:
        new = sorted(strays_after - strays_before)
        if new:
            problems.append(f"the run left files in the checkout that git neither tracks nor ignores: {new[:10]}")
    return problems


@pytest.fixture(scope="session", autouse=True)
def leaves_the_machine_as_it_found_it():
    """Fails the run (an error after the last test) when it damaged a device or littered the checkout."""
    strays_before = stray_files()
    yield
    problems = machine_damage(strays_before)
    if problems:
        pytest.fail("the test run changed the machine:\n  " + "\n  ".join(problems), pytrace=False)


#: As a list, the form a config holds (tests compare lists of names with it).
LLAMA_TARGETS = list(adapter_targets.LLAMA_TARGETS)


def tiny_llama_config(**overrides) -> LlamaConfig:
    """A LLaMA small enough for CPU tests: k_proj/v_proj (GQA) differ in shape from q_proj, as in LLaMA-3."""
    values = dict(
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=128,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    values.update(overrides)
    return LlamaConfig(**values)


def build_tiny_llama(seed: int = 0, dtype: torch.dtype = torch.float32, **overrides) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(tiny_llama_config(**overrides)).to(dtype).eval()


@pytest.fixture
def tiny_llama() -> LlamaForCausalLM:
    return build_tiny_llama()


@pytest.fixture
def input_ids() -> torch.Tensor:
    return torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))


def randomize_adapters(model: torch.nn.Module, seed: int = 0, std: float = 0.1) -> None:
    """Give every adapter tensor random values, so that the update is not the zero of initialisation."""
    from denselora import get_adapter_params

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in get_adapter_params(model).values():
            param.copy_(torch.randn(param.shape, generator=generator) * std)


@pytest.fixture(scope="session")
def density_runs(tmp_path_factory):
    """A DenseLoRA run (r=16) and a LoRA run (r=8) of the tiny model, each watched by the update-density
    callback every 3 of its 6 steps on q_proj and down_proj of the first and last block, then evaluated:
    ``{"denselora": run directory, "lora": run directory}``.
    """
    import json

    from tests.training.cli_runs import REPO, run, tiny_run_args

    root = tmp_path_factory.mktemp("density-runs")
    monitor = json.dumps(
        {
            "class_path": "denselora.callbacks.UpdateDensityMonitor",
            "init_args": {"every_n_steps": 3, "layers": [0, -1], "targets": ["q_proj", "down_proj"]},
        }
    )
    evaluate = ("--test_after_fit", "true", "--data.init_args.test_size", "2")
    common = ("--trainer.callbacks+", monitor, *evaluate)
    run(tiny_run_args(root, *common))
    lora = REPO / "lightning_configs" / "baselines" / "lora.yaml"
    run(tiny_run_args(root, "--config", str(lora), "--model.init_args.adapter.init_args.r", "8", *common))
    return {
        "denselora": root / "runs" / "quickstart" / "version_0",
        "lora": root / "runs" / "lora" / "version_0",
    }


#: Set (as .ci/run does) to the real model every real-model test must have: its absence then FAILS them.
REAL_MODEL_ENV = "DENSELORA_REAL_MODEL"


@pytest.fixture(scope="session")
def real_model_spec() -> str:
    """The real pretrained model (SmolLM2-135M-Instruct by default) as ``model.pretrained`` takes it.

    Skipped when it is not installed and ``DENSELORA_REAL_MODEL`` is unset; failed when that is set and the
    model cannot be found. Converted once into the project's cache (``DENSELORA_CACHE``).
    """
    from denselora.errors import ConfigError
    from denselora.models import SMOLLM2_135M_INSTRUCT, converted_gguf

    spec = os.environ.get(REAL_MODEL_ENV) or SMOLLM2_135M_INSTRUCT
    try:
        converted_gguf(spec)
    except ConfigError as err:
        if os.environ.get(REAL_MODEL_ENV):
            pytest.fail(f"{REAL_MODEL_ENV}={spec} is set, but the model cannot be loaded: {err}")
        pytest.skip(f"no real model ({err}); set {REAL_MODEL_ENV} to make its absence a failure")
    return spec


@pytest.fixture(scope="session")
def real_tokenizer(real_model_spec):
    from denselora.models import load_tokenizer

    return load_tokenizer(real_model_spec)


@pytest.fixture
def real_base(real_model_spec, real_tokenizer):
    """A fresh float32 copy of the real base (loaded from the converted cache in well under a second)."""
    from denselora.models import GGUFModel

    return GGUFModel(real_model_spec).build(torch.float32, real_tokenizer).eval()
