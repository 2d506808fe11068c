"""Scoring options by likelihood: against a float64 reference that runs every option on its own."""

from __future__ import annotations

import pytest
import torch

from denselora.evaluation.likelihood import choose, encode_pair, option_loglikelihoods

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
    calls = []
    hook = tiny_model.register_forward_hook(lambda module, args, kwargs, out: calls.append(kwargs["input_ids"].shape),
                                            with_kwargs=True)  # fmt: skip
    try:
        got = option_loglikelihoods(tiny_model, tiny_tokenizer, contexts, options)
    finally:
        hook.remove()
    shared = likelihood._shared_prefix_length([encode_pair(tiny_tokenizer, c, "x")[0] for c in contexts])
    assert shared >= likelihood.MIN_SHARED_PREFIX
    assert calls[0] == (1, shared)  # the preamble, once
    assert calls[1][0] == 3 and len(calls) == 3  # the rest of the prompts, then all six options
    for context, choices, scores in zip(contexts, options, got, strict=True):
        assert scores == pytest.approx(reference(tiny_model, tiny_tokenizer, context, choices), abs=1e-4)
