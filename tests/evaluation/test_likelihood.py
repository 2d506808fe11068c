"""Scoring options by likelihood: against a float64 reference that runs every option on its own."""

from __future__ import annotations

import pytest
import torch

from denselora.evaluation.likelihood import choose, encode_pair, option_loglikelihoods
from tests.evaluation.conftest import build_model

CONTEXTS = [
    "Below is an instruction.\n\n### Instruction:\nWhat is the capital of France?\n\n### Response:\n",
    "short",
    "Question: Which animal is bigger?\nAnswer:",
]
OPTIONS = [
    ["Paris", "London is big", "Berlin"],
    ["yes", "no"],
    [" a mouse", " an elephant", " a cat that sits on the mat all day long", " x", " y z"],
]


def reference(model, tokenizer, context: str, options: list[str]) -> list[float]:
    """Each option alone, prompt and option in one sequence, log-softmax in float64."""
    sums = []
    double = build_model_double(model)
    for option in options:
        context_ids, option_ids = encode_pair(tokenizer, context, option)
        ids = torch.tensor([context_ids + option_ids])
        with torch.no_grad():
            logprobs = double(input_ids=ids).logits[0].double().log_softmax(-1)
        sums.append(sum(logprobs[len(context_ids) - 1 + t, token].item() for t, token in enumerate(option_ids)))
    return sums


_DOUBLES: dict[int, torch.nn.Module] = {}


def build_model_double(model):
    import copy

    if id(model) not in _DOUBLES:
        _DOUBLES[id(model)] = copy.deepcopy(model).double()
    return _DOUBLES[id(model)]


def test_batched_options_match_each_option_alone_in_float64(tiny_model, tiny_tokenizer):
    got = option_loglikelihoods(tiny_model, tiny_tokenizer, CONTEXTS, OPTIONS)
    assert [len(scores) for scores in got] == [len(options) for options in OPTIONS]
    for context, options, scores in zip(CONTEXTS, OPTIONS, got, strict=True):
        assert scores == pytest.approx(reference(tiny_model, tiny_tokenizer, context, options), abs=1e-4)


def test_an_item_scores_the_same_alone_and_in_a_batch(tiny_model, tiny_tokenizer):
    # Left padding of the shorter prompts and right padding of the shorter options must change nothing.
    batched = option_loglikelihoods(tiny_model, tiny_tokenizer, CONTEXTS, OPTIONS)
    for index in range(len(CONTEXTS)):
        alone = option_loglikelihoods(tiny_model, tiny_tokenizer, [CONTEXTS[index]], [OPTIONS[index]])
        assert alone[0] == pytest.approx(batched[index], abs=1e-4)


def test_a_peft_model_is_scored_through_its_adapter(tiny_model, tiny_tokenizer):
    import copy

    from denselora.methods import LoRA

    model = LoRA(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"]).apply(copy.deepcopy(tiny_model))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.eval()
    got = option_loglikelihoods(model, tiny_tokenizer, CONTEXTS[:1], OPTIONS[:1])[0]
    assert got == pytest.approx(reference(model.merge_and_unload(), tiny_tokenizer, CONTEXTS[0], OPTIONS[0]), abs=1e-4)
    assert got != pytest.approx(reference(tiny_model, tiny_tokenizer, CONTEXTS[0], OPTIONS[0]), abs=1e-3)


def test_trailing_whitespace_of_the_prompt_goes_to_the_continuation(tiny_tokenizer):
    context_ids, option_ids = encode_pair(tiny_tokenizer, "Answer: \n", "Paris")
    assert context_ids == tiny_tokenizer("Answer:")["input_ids"]
    whole = tiny_tokenizer("Answer: \nParis")["input_ids"]
    assert context_ids + option_ids == whole[: len(context_ids)] + whole[len(context_ids) :]
    with pytest.raises(ValueError, match="empty"):
        encode_pair(tiny_tokenizer, "", "x")


def test_acc_norm_divides_by_the_length_of_the_option_text():
    picked = choose([-10.0, -12.0, -30.0], ["ab", "abcdefghijkl", "x" * 100])
    assert picked.choice == 0  # the highest sum
    assert picked.choice_norm == 2  # -0.3 per character beats -5 and -1
    assert choose([-1.0, -1.0], ["a", "b"]).choice == 0  # ties go to the first, as numpy.argmax
    with pytest.raises(ValueError):
        choose([-1.0], ["a", "b"])


def test_items_are_scored_in_groups_of_similar_option_lengths():
    from denselora.evaluation.likelihood import _length_groups

    short, long = [[1, 2]], [list(range(100)), list(range(90))]
    groups = _length_groups([long, short, short, long, short])
    assert sorted(item for group in groups for item in group) == [0, 1, 2, 3, 4]
    assert [1, 2, 4] in groups and [0, 3] in groups  # the long ones are not padded with the short, nor the reverse
    assert _length_groups([short] * 5) == [[0, 1, 2, 3, 4]]


def test_bad_requests_are_refused(tiny_model, tiny_tokenizer):
    with pytest.raises(ValueError, match="at least one continuation"):
        option_loglikelihoods(tiny_model, tiny_tokenizer, ["a"], [[]])
    with pytest.raises(ValueError, match="contexts"):
        option_loglikelihoods(tiny_model, tiny_tokenizer, ["a", "b"], [["x"]])
    assert option_loglikelihoods(tiny_model, tiny_tokenizer, [], []) == []


def test_prompts_that_share_a_preamble_run_it_once_and_score_the_same(tiny_model, tiny_tokenizer):
    from denselora.data.prompts import format_prompt
    from denselora.evaluation import likelihood

    contexts = [format_prompt("alpaca", question) for question in ("Is ice cold?", "Which is larger, 3 or 4?", "Why")]
    options = [["yes", "no"], ["3", "4", "neither of them"], ["because"]]
    option_loglikelihoods(tiny_model, tiny_tokenizer, contexts, options)  # the model's head is checked once, first
    calls, decoder_calls = [], []
    hooks = [
        tiny_model.register_forward_hook(lambda m, args, kwargs, out: calls.append(kwargs["input_ids"].shape),
                                         with_kwargs=True),
        tiny_model.model.register_forward_hook(lambda m, args, kwargs, out: decoder_calls.append(
            kwargs["input_ids"].shape), with_kwargs=True),
    ]  # fmt: skip
    try:
        got = option_loglikelihoods(tiny_model, tiny_tokenizer, contexts, options)
    finally:
        for hook in hooks:
            hook.remove()
    shared = likelihood._shared_prefix_length([encode_pair(tiny_tokenizer, c, "x")[0] for c in contexts])
    assert shared >= likelihood.MIN_SHARED_PREFIX
    assert calls[0] == (1, shared)  # the preamble, once
    assert calls[1][0] == 3 and len(calls) == 2  # the rest of the prompts
    assert decoder_calls[-1][0] == 6  # all six options, through the decoder alone (the head at their real tokens)
    for context, choices, scores in zip(contexts, options, got, strict=True):
        assert scores == pytest.approx(reference(tiny_model, tiny_tokenizer, context, choices), abs=1e-4)


def test_the_head_runs_at_real_tokens_only_and_a_model_that_changes_its_logits_runs_whole(tiny_tokenizer):
    from denselora.evaluation import likelihood

    model = build_model(tiny_tokenizer, seed=3)
    head = model.get_output_embeddings()
    rows = []
    hook = head.register_forward_hook(lambda module, args, out: rows.append(args[0].shape[:-1]))
    try:
        got = option_loglikelihoods(model, tiny_tokenizer, CONTEXTS, OPTIONS)
    finally:
        hook.remove()
    option_tokens = [len(encode_pair(tiny_tokenizer, c, o)[1]) for c, options in zip(CONTEXTS, OPTIONS, strict=True)
                     for o in options]  # fmt: skip
    # The head at the options' real positions (all but each one's last token), not at their padding: the passes over
    # options apply it to a flat list of positions, one per real token.
    assert sum(shape[0] for shape in rows if len(shape) == 1) == sum(option_tokens) - len(option_tokens)
    for context, options, scores in zip(CONTEXTS, OPTIONS, got, strict=True):
        assert scores == pytest.approx(reference(model, tiny_tokenizer, context, options), abs=1e-4)

    # A model whose logits are not its output embedding of the decoder's states (scaled, capped) runs whole.
    class Scaled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, **kwargs):
            out = self.inner(**kwargs)
            out.logits = out.logits * 2
            return out

        def get_output_embeddings(self):
            return self.inner.get_output_embeddings()

        @property
        def base_model(self):
            return self.inner.base_model

        def get_input_embeddings(self):
            return self.inner.get_input_embeddings()

    scaled = Scaled(model)
    assert likelihood._head_of(scaled) is None and likelihood._head_of(model) is not None
    doubled = option_loglikelihoods(scaled, tiny_tokenizer, CONTEXTS[:1], OPTIONS[:1])[0]
    with torch.no_grad():
        expected = []
        for option in OPTIONS[0]:
            context_ids, option_ids = encode_pair(tiny_tokenizer, CONTEXTS[0], option)
            logprobs = (model(input_ids=torch.tensor([context_ids + option_ids])).logits[0] * 2).log_softmax(-1)
            expected.append(sum(logprobs[len(context_ids) - 1 + t, tok].item() for t, tok in enumerate(option_ids)))
    assert doubled == pytest.approx(expected, abs=1e-4)
