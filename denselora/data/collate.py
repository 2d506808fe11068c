"""Padding variable-length examples into batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from denselora.data.tokenization import IGNORE_INDEX

__all__ = ["PaddingCollator"]


class PaddingCollator:
    """Pad ``input_ids`` (and ``labels`` when present) to a common length and build the attention mask.

    Right padding is used for training; generation needs LEFT padding, so that every prompt ends at the last
    position and new tokens are appended right after it.

    Args:
        pad_token_id: id used for padded ``input_ids`` positions (masked out, so any id works).
        padding_side: ``"right"`` or ``"left"``.
        pad_to_multiple_of: round the padded length up to a multiple of this (8 as LLM-Adapters' collator),
            or ``None`` to pad to the longest example only.

    Calling it on a list of examples ``{"input_ids": list[int], "labels": list[int] (optional),
    "index": int (optional), ...}`` returns:

        * ``input_ids``: ``LongTensor[batch, length]``;
        * ``attention_mask``: ``LongTensor[batch, length]``, 1 on real tokens, 0 on padding;
        * ``labels``: ``LongTensor[batch, length]`` padded with -100 (if the examples have labels);
        * ``index``: ``LongTensor[batch]`` (if the examples have an index). Other fields are dropped.
    """

    def __init__(self, pad_token_id: int, padding_side: str = "right", pad_to_multiple_of: int | None = None):
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        self.pad_token_id = pad_token_id
        self.padding_side = padding_side
        self.pad_to_multiple_of = pad_to_multiple_of

    def _pad(self, rows: Sequence[Sequence[int]], length: int, value: int) -> torch.Tensor:
        out = torch.full((len(rows), length), value, dtype=torch.long)
        for i, row in enumerate(rows):
            if not len(row):
                continue
            if self.padding_side == "right":
                out[i, : len(row)] = torch.as_tensor(row, dtype=torch.long)
            else:
                out[i, length - len(row) :] = torch.as_tensor(row, dtype=torch.long)
        return out

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids = [example["input_ids"] for example in examples]
        length = max(len(row) for row in ids)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch = {
            "input_ids": self._pad(ids, length, self.pad_token_id),
            "attention_mask": self._pad([[1] * len(row) for row in ids], length, 0),
        }
        if "labels" in examples[0]:
            batch["labels"] = self._pad([example["labels"] for example in examples], length, IGNORE_INDEX)
        if "index" in examples[0]:
            batch["index"] = torch.as_tensor([int(example["index"]) for example in examples], dtype=torch.long)
        return batch
