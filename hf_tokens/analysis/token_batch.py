"""Inputs of :func:`hf_tokens.analysis.token_stats`: texts or ids -> padded batches and the positions to score.

Every check runs before the model does, and each error names the argument (or the row) and what is allowed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hf_tokens.analysis.token_stats_result import IGNORE


def check_tokenizer(tokenizer: Any, vocab: int) -> None:
    """Refuse a tokenizer that cannot be the model's: more tokens than the head has rows, or fewer than half."""
    try:
        size = len(tokenizer)
    except TypeError as exc:
        raise TypeError(f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}") from exc
    if size > vocab:
        raise ValueError(
            f"the tokenizer has {size} tokens but the model's head only {vocab}: they do not belong together "
            "(pass the model's own tokenizer)"
        )
    if size < vocab // 2:
        raise ValueError(
            f"the tokenizer has {size} tokens, less than half of the model's {vocab}: it is not this model's "
            "tokenizer (pass the model's own tokenizer)"
        )


def encode(tokenizer: Any, texts: Any, add_special_tokens: bool, vocab: int) -> list[list[int]]:
    """Token ids of each text, unpadded."""
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise TypeError("texts must be a non-empty list of str (wrap a single text in a list)")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError(f"texts[{i}] is empty; per-token statistics need a text of at least 2 tokens")
    rows = [list(map(int, ids)) for ids in tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]]
    for i, r in enumerate(rows):
        if any(t < 0 or t >= vocab for t in r):
            raise ValueError(f"texts[{i}] encodes to ids outside [0, {vocab}), the model's vocabulary")
    return rows


def pad(rows: list[list[int]], side: str, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` ``[len(rows), longest]``, padded on ``side``."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        sl = slice(0, len(r)) if side == "right" else slice(width - len(r), width)
        ids[i, sl] = torch.tensor(r, dtype=torch.long)
        mask[i, sl] = 1
    return ids, mask


def per_row(name: str, value: Any, rows: int) -> torch.Tensor:
    """An int, a sequence of ``rows`` ints or a 1-D integer tensor -> ``[rows]`` int64 on the CPU."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, a sequence of ints or an integer tensor, got bool")
    if isinstance(value, int):
        return torch.full((rows,), value, dtype=torch.long)
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex() or value.dim() != 1:
            raise TypeError(f"{name} must be a 1-D integer tensor, got {value.dtype} of shape {tuple(value.shape)}")
        out = value.detach().to("cpu", torch.long)
    elif isinstance(value, Sequence) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        out = torch.tensor(list(value), dtype=torch.long)
    else:
        raise TypeError(f"{name} must be an int, a sequence of ints or an integer tensor, got {type(value).__name__}")
    if out.numel() != rows:
        raise ValueError(f"{name} must give one value per row ({rows}), got {out.numel()}")
    return out


def check_ids(input_ids: Any, attention_mask: Any, vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated ``(input_ids, attention_mask)`` as int64 on the CPU; the mask defaults to all ones."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.is_floating_point():
        what = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise TypeError(f"input_ids must be an integer tensor [batch, seq], got {what}")
    if input_ids.shape[0] == 0:
        raise ValueError("input_ids has no rows")
    ids = input_ids.detach().to("cpu", torch.long)
    if ids.numel() and bool(((ids < 0) | (ids >= vocab)).any()):
        raise ValueError(f"input_ids must lie in [0, {vocab}) (the model's vocabulary)")
    if attention_mask is None:
        return ids, torch.ones_like(ids)
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape:
        what = (
            tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else type(attention_mask).__name__
        )
        raise ValueError(f"attention_mask must be a tensor of input_ids' shape {tuple(input_ids.shape)}, got {what}")
    mask = attention_mask.detach().to("cpu", torch.long)
    if bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError("attention_mask must hold 0 (padding) and 1 (real token) only")
    first = mask.argmax(1)
    last = mask.shape[1] - 1 - mask.flip(1).argmax(1)
    n = mask.sum(1)
    if bool(((n > 0) & (last - first + 1 != n)).any()):
        raise ValueError("attention_mask must mark one contiguous run of real tokens per row (left or right padding)")
    return ids, mask


def check_lengths(lengths: torch.Tensor, start: torch.Tensor, with_next: bool) -> None:
    """Every row needs 2 tokens (counting ``next_ids``) and a token to score at or after ``start``."""
    if bool((start < 1).any()):
        raise ValueError("continuation_start must be >= 1 (the first token of a row has no prediction)")
    total = lengths + int(with_next)
    for i in torch.nonzero(total < 2).flatten().tolist():
        raise ValueError(
            f"row {i} has {int(total[i])} token(s); per-token statistics need at least 2 (one to condition on, one "
            "to score)"
        )
    for i in torch.nonzero(start >= total).flatten().tolist():
        raise ValueError(
            f"continuation_start={int(start[i])} leaves no token to score in row {i} ({int(total[i])} tokens)"
        )


def scored_positions(
    ids: torch.Tensor, mask: torch.Tensor, start: torch.Tensor, next_ids: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scored [B, T] bool, target_ids [B, T])``: the positions whose next token is observed and has index
    ``>= start`` among the row's real tokens, and that token (``IGNORE`` elsewhere)."""
    real = mask.bool()
    has_next = torch.zeros_like(real)
    has_next[:, :-1] = real[:, 1:]
    targets = torch.full_like(ids, IGNORE)
    targets[:, :-1] = ids[:, 1:]
    if next_ids is not None:
        last = ids.shape[1] - 1 - mask.flip(1).argmax(1)
        rows = torch.arange(ids.shape[0])
        targets[rows, last] = next_ids
        has_next[rows, last] = True
    index = mask.cumsum(1) - 1  # index of each real token within its row
    scored = real & has_next & (index + 1 >= start[:, None])
    return scored, torch.where(scored, targets, torch.full_like(targets, IGNORE))
