"""The paper's data layout: a landmark token after every ``block_size`` regular tokens, and its labels.

``insert_landmarks`` turns ``[B, T]`` token ids into the layout the attention function reads from positions
(landmark at every ``block_size + 1``-th position); ``landmark_labels`` gives causal-LM labels that ignore the
landmarks (``-100``): a landmark is never a target, and the landmark's own output predicts the next regular token.
"""

from __future__ import annotations

import torch

IGNORE = -100


def insert_landmarks(
    input_ids: torch.Tensor, block_size: int, landmark_id: int, *, require_full_blocks: bool = False
) -> torch.Tensor:
    """``[B, T]`` -> ``[B, T + T // block_size]`` with ``landmark_id`` after every ``block_size`` tokens.

    A trailing partial block gets no landmark (it is the current block); ``require_full_blocks=True`` (training on
    whole blocks, as the paper does) raises unless ``block_size`` divides ``T``.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        raise TypeError("input_ids must be a [batch, length] tensor of token ids")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be an int >= 1, got {block_size!r}")
    batch, length = input_ids.shape
    if require_full_blocks and length % block_size:
        raise ValueError(
            f"block_size ({block_size}) must divide the sequence length ({length}) when require_full_blocks=True; "
            f"use a length that is a multiple of {block_size}"
        )
    full = length // block_size
    head = input_ids[:, : full * block_size].reshape(batch, full, block_size)
    marks = torch.full((batch, full, 1), landmark_id, dtype=input_ids.dtype, device=input_ids.device)
    laid = torch.cat([head, marks], dim=-1).reshape(batch, full * (block_size + 1))
    return torch.cat([laid, input_ids[:, full * block_size :]], dim=1)


def landmark_labels(laid_ids: torch.Tensor, block_size: int) -> torch.Tensor:
    """Labels for ids laid out by :func:`insert_landmarks`: the ids, with every landmark position set to -100."""
    labels = laid_ids.clone()
    labels[:, block_size :: block_size + 1] = IGNORE
    return labels


def landmark_mask(length: int, block_size: int, device: torch.device | None = None) -> torch.Tensor:
    """Bool ``[length]``: True at the landmark positions of the layout."""
    pos = torch.arange(length, device=device)
    return pos % (block_size + 1) == block_size
