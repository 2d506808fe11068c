"""Scoring by likelihood on the real pretrained model and the real test sets."""

from __future__ import annotations

import math

import pytest

from denselora.data import load_eval_set
from denselora.evaluation import evaluate
from denselora.evaluation.likelihood import choose, option_loglikelihoods

#: ARC-Easy test items (by position) that the zero-shot base answers right by a wide margin under the alpaca
#: likelihood prompt: plants and animals are made of C, H, O, N; sugar water leaves crystals by evaporation.
CLEAR_ITEMS = (36, 17)


@pytest.fixture(scope="module")
def arc_easy(shared_data, real_tokenizer, datasets_cache):
    return load_eval_set(shared_data.root, "ARC-Easy", real_tokenizer, "alpaca", limit=40, cache_dir=datasets_cache)


def test_an_item_the_base_knows_ranks_its_gold_option_first(real_base, real_tokenizer, arc_easy):
    prompts = arc_easy.likelihood_prompts()
    for index in CLEAR_ITEMS:
        item = arc_easy.choices[index]
        (scores,) = option_loglikelihoods(real_base, real_tokenizer, [prompts[index]], [item.choices])
        ranked = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)
        assert ranked[0] == item.gold, (item.question, item.choices, scores)
        assert scores[item.gold] - scores[ranked[1]] > 3.0  # not a near tie: the model knows it
        assert choose(scores, item.choices).choice == item.gold


def test_the_base_beats_chance_on_real_items(real_base, real_tokenizer, arc_easy):
    # The first 40 items, four options each (a few have three or five): picking at random gets about 10 right. The
    # base, comparing the options' likelihoods per character, gets so many more that chance would rarely do as well.
    result = evaluate(real_base, real_tokenizer, [arc_easy], None, batch_size=8, scoring="likelihood", print_fn=None)
    right = result.datasets[0].likelihood.correct_norm
    tail = sum(math.comb(40, k) * 0.25**k * 0.75 ** (40 - k) for k in range(right, 41))
    assert tail < 0.02, f"{right} of 40 right: chance does as well with probability {tail:.3f}"
