"""What the quickstart registers with models/ and tasks/ is known to any use of the package, in a new process."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_new_process_knows_the_quickstart_base_the_tiny_tokenizer_and_the_synthetic_sets():
    # Only models/ and tasks/ are imported, which do not import the quickstart: the package's __init__ does.
    code = (
        "from denselora.models import base_model_from_spec, load_tokenizer\n"
        "from denselora.tasks import get_task\n"
        "print(type(base_model_from_spec('denselora/quickstart-base')).__name__)\n"
        "print(len(load_tokenizer('denselora/tiny')))\n"
        "print(get_task('synth_math').max_new_tokens, get_task('synth_boolq').rule.name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["QuickstartBase", "552", "48 true|false"]
