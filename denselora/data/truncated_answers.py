"""Training records that truncation leaves nothing to learn from: found when the data is prepared.

With ``train_on_inputs: false`` only the answer is learned. A prompt of ``cutoff_len`` tokens or more leaves no
answer token after truncation; a micro-batch made only of such records has a loss of 0 / 0 = NaN, and the run
would stop as if it had diverged, which no learning rate cures. Such records are dropped (with one warning
that counts them and names the first few) or refused, as ``data.init_args.truncated_answers`` says.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
from lightning.pytorch.utilities import rank_zero_warn

from denselora.errors import DataError

__all__ = ["TRUNCATED_ANSWER_ACTIONS", "handle_truncated_answers"]

#: What ``truncated_answers`` may say: leave such records out, or stop with an error naming them.
TRUNCATED_ANSWER_ACTIONS = ("drop", "error")

_NAMED = 5  # records named in the message; the count covers the rest


def handle_truncated_answers(
    tokenized: datasets.Dataset,
    record_indices: Sequence[int],
    action: str,
    what: str,
    cutoff_len: int,
) -> datasets.Dataset:
    """Drop or refuse the examples of ``tokenized`` that have no label to learn from.

    Args:
        tokenized: examples with a ``learned`` column (see :class:`denselora.data.tokenization.TrainingTokenizer`).
        record_indices: each example's position in the training file(s), named in the message.
        action: ``"drop"`` or ``"error"``.
        what: the examples' role, e.g. ``"training data"`` or ``"validation data"``.
        cutoff_len: the truncation length, named in the message.

    Returns:
        ``tokenized`` without those examples (itself when there are none).

    Raises:
        DataError: ``action`` is ``"error"`` and there are such examples, or dropping them leaves none.
    """
    empty = [position for position, learned in enumerate(tokenized["learned"]) if learned == 0]
    if not empty:
        return tokenized
    named = ", ".join(str(index) for index in sorted(record_indices[position] for position in empty)[:_NAMED])
    more = ", ..." if len(empty) > _NAMED else ""
    found = (
        f"{what}: {len(empty)} of {len(tokenized)} records have no answer token left after truncation to "
        f"cutoff_len={cutoff_len} (records {named}{more} of the training file)"
    )
    if action == "error":
        raise DataError(
            f"{found}; raise data.init_args.cutoff_len, shorten those prompts, or set "
            "data.init_args.truncated_answers: drop to leave them out"
        )
    if len(empty) == len(tokenized):
        raise DataError(f"{found}, which leaves none; raise data.init_args.cutoff_len or shorten the prompts")
    rank_zero_warn(
        f"{found}; they are left out (data.init_args.truncated_answers: drop). Raise data.init_args.cutoff_len "
        "to keep them."
    )
    dropped = set(empty)
    return tokenized.select([position for position in range(len(tokenized)) if position not in dropped])
