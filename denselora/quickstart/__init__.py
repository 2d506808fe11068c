"""The quickstart: a run that shows DenseLoRA learning in a minute on a CPU, with nothing to download.

- :mod:`~denselora.quickstart.synthetic`: the synthetic reasoning sets, in the LLM-Adapters layout;
- :mod:`~denselora.quickstart.datamodule`: :class:`QuickstartDataModule`, which writes them on first use;
- :mod:`~denselora.quickstart.base_model`: the small base that knows the format but not the answers, built
  offline once and selected by ``model.pretrained: denselora/quickstart-base`` (:class:`QuickstartBase`);
- :mod:`~denselora.quickstart.tokenizer_corpus`: the text the built-in ``denselora/tiny`` tokenizer learns.

Importing this folder registers what it contributes with the folders below it, which do not import it: its
base model with ``models/``, the tiny tokenizer's text with ``models/``, and its sets' answer rules with
``tasks/``. ``denselora/__init__.py`` imports it, so the registrations hold wherever the package is used.
"""

from denselora.models import register_base_model, register_tiny_tokenizer_corpus
from denselora.quickstart.base_model import QUICKSTART_BASE, QuickstartBase
from denselora.quickstart.datamodule import QuickstartDataModule
from denselora.quickstart.synthetic import QUICKSTART_EVAL_DATASETS, QUICKSTART_TRAIN_FILE, write_quickstart_data
from denselora.quickstart.tokenizer_corpus import tiny_tokenizer_corpus
from denselora.tasks import register_task

__all__ = [
    "QUICKSTART_BASE",
    "QUICKSTART_EVAL_DATASETS",
    "QUICKSTART_TRAIN_FILE",
    "QuickstartBase",
    "QuickstartDataModule",
    "write_quickstart_data",
]

# Each synthetic set is scored like the real set whose phrasing it copies (name: (like, max_new_tokens)); the
# arithmetic answers are one short sentence, so they get a short generation budget.
_SCORED_LIKE = {"synth_boolq": ("boolq", None), "synth_choice": ("social_i_qa", None), "synth_math": ("gsm8k", 48)}

register_base_model(QUICKSTART_BASE, QuickstartBase)
register_tiny_tokenizer_corpus(tiny_tokenizer_corpus)
for _name, (_like, _max_new_tokens) in _SCORED_LIKE.items():
    # overwrite: importing the folder again (a reload) registers the same sets again.
    register_task(_name, like=_like, max_new_tokens=_max_new_tokens, overwrite=True)
