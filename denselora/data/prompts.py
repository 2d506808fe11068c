"""Alpaca prompt templates: the clean one and the authors' two verbatim ones.

``"authors"`` reproduces, character for character, the string the authors' ``finetune.py`` builds from an
indented triple-quoted literal: two trailing spaces after ``request.`` (one when there is an input) and
16 leading spaces on every line after the blank one, including the line between instruction and response.
It is the string they trained on.

``"authors_eval"`` is the different string of the authors' evaluation scripts, ``commonsense_evaluate.py``
(lines 164-183) and ``evaluate.py`` (lines 148-167) in https://github.com/mulin-ahu/DenseLoRA,
``commonsense_reasoning/``: one trailing space after ``request.`` (two in training) and an empty line between
the instruction and ``### Response:`` (16 spaces in training). Their published numbers were measured with it,
so the paper configs test with it (``eval_template``) and train with ``"authors"`` (``finetune.py`` lines
364-384).
"""

from __future__ import annotations

__all__ = ["TEMPLATES", "format_prompt"]

_INDENT = " " * 16

_PREAMBLE = "Below is an instruction that describes a task. "
_PREAMBLE += "Write a response that appropriately completes the request."
_PREAMBLE_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)

# Each template is (without input, with input); fields {instruction}, {input}, {output}.
TEMPLATES: dict[str, tuple[str, str]] = {
    "alpaca": (
        _PREAMBLE + "\n\n### Instruction:\n{instruction}\n\n### Response:\n{output}",
        _PREAMBLE_INPUT + "\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{output}",
    ),
    "authors": (
        _PREAMBLE + "  \n\n"
        f"{_INDENT}### Instruction:\n{_INDENT}{{instruction}}\n{_INDENT}\n"
        f"{_INDENT}### Response:\n{_INDENT}{{output}}",
        _PREAMBLE_INPUT + " \n\n"
        f"{_INDENT}### Instruction:\n{_INDENT}{{instruction}}\n{_INDENT}\n"
        f"{_INDENT}### Input:\n{_INDENT}{{input}}\n{_INDENT}\n"
        f"{_INDENT}### Response:\n{_INDENT}{{output}}",
    ),
    "authors_eval": (
        _PREAMBLE + " \n\n"
        f"{_INDENT}### Instruction:\n{_INDENT}{{instruction}}\n\n"
        f"{_INDENT}### Response:\n{_INDENT}{{output}}",
        _PREAMBLE_INPUT + "\n\n"
        f"{_INDENT}### Instruction:\n{_INDENT}{{instruction}}\n\n"
        f"{_INDENT}### Input:\n{_INDENT}{{input}}\n\n"
        f"{_INDENT}### Response:\n{_INDENT}{{output}}",
    ),
}


def check_template(template: str) -> str:
    """Return ``template`` if it is known, else raise ``ValueError`` listing the known names."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; choose one of {', '.join(TEMPLATES)}")
    return template


def format_prompt(template: str, instruction: str, input: str = "", output: str = "") -> str:
    """Render one example.

    Args:
        template: ``"alpaca"``, ``"authors"`` or ``"authors_eval"`` (see the module docstring).
        instruction: the record's ``instruction``.
        input: the record's ``input``; the with-input variant is used when it is non-empty.
        output: the response text; empty for a generation prompt.

    Returns:
        The prompt string; with ``output=""`` it ends right where the model's response starts.
    """
    without_input, with_input = TEMPLATES[check_template(template)]
    if input:
        return with_input.format(instruction=instruction, input=input, output=output)
    return without_input.format(instruction=instruction, output=output)
