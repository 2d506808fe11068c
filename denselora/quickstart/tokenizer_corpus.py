"""The text the built-in ``denselora/tiny`` tokenizer is trained on, registered with ``models/`` at import.

The tiny tokenizer serves the quickstart and the tests, so it learns what they feed it: the prompt templates, the
label words and answer phrasing of the task families, digits, and this folder's synthetic records. The texts and
their order decide every token id (and through them the quickstart base and its recorded numbers): change them
only together with those.
"""

from __future__ import annotations

import random

from denselora.data.prompts import TEMPLATES
from denselora.quickstart import synthetic

__all__ = ["tiny_tokenizer_corpus"]


def tiny_tokenizer_corpus() -> list[str]:
    """Deterministic training text: templates, label words, digits and synthetic examples."""
    texts = [template.format(instruction="", input="", output="") for pair in TEMPLATES.values() for template in pair]
    labels = ["true", "false", "solution1", "solution2", "option1", "option2", "Option1", "Option2"]
    labels += [f"{stem}{i}" for stem in ("answer", "Answer", "ending", "Ending") for i in range(1, 6)]
    texts += [f"the correct answer is {label}" for label in labels]
    texts += ["Answer format: " + "/".join(labels[i : i + 4]) for i in range(0, len(labels), 4)]
    texts += [" ".join(synthetic.NAMES), " ".join(synthetic.ITEMS), " ".join(str(d) for d in range(10))]
    texts += ["The answer is (A). The answer is (B). The answer is (C). The answer is (D). The answer is (E)."]
    rng = random.Random(20250523)
    makers = (synthetic.make_boolq_example, synthetic.make_choice_example, synthetic.make_math_example)
    for _ in range(200):
        for make in makers:
            record = make(rng)
            texts.append(record["instruction"] + " " + record["output"])
    return texts
