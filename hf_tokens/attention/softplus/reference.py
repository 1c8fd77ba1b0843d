"""Pure-PyTorch softplus attention (LSSA) and re-weighting (LSSAR): the oracle, the CPU path and the training path.

Everything is computed in float32 and cast back to the input dtype. Shapes follow transformers' attention
interface: ``query`` ``[B, H, q, D]``, ``key``/``value`` ``[B, H_kv, S, D]`` (grouped-query heads not repeated),
``mask`` a bool ``[B, 1 | H, q, S]`` (True = may attend) or ``None`` (every key visible).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

# rows that see no key at all (left-padding queries) produce zeros instead of 0/0
TINY = 1e-30


def visible_counts(mask: torch.Tensor | None, q_len: int, s_len: int, device: torch.device) -> torch.Tensor:
    """``N_i``: how many keys each query row attends to, float ``[B | 1, 1 | H, q, 1]``."""
    if mask is None:
        return torch.full((1, 1, q_len, 1), float(s_len), device=device)
    return mask.sum(-1, keepdim=True, dtype=torch.float32)


def l1_weights(x: torch.Tensor, mask: torch.Tensor | None, *, phi: str) -> torch.Tensor:
    """``l1norm(phi(x))`` over the visible keys of each row of the scaled logits ``x``; masked keys get weight 0,
    a row without visible keys all zeros. With ``phi="exp"`` this is softmax (shifted by the row max)."""
    if phi == "exp":
        hidden = torch.finfo(x.dtype).min
        x = x if mask is None else x.masked_fill(~mask, hidden)
        w = torch.exp(x - x.amax(-1, keepdim=True))
    else:
        w = F.softplus(x)
    if mask is not None:
        w = w.masked_fill(~mask, 0.0)
    return w / w.sum(-1, keepdim=True).clamp_min(TINY)


def reweight(
    weights: torch.Tensor, counts: torch.Tensor, *, power: float, after: int, offset_rows: int
) -> torch.Tensor:
    """LSSAR's sharpening ``l1norm(ReLU(N_i * A_i - O_i) ** p)`` on rows with ``N_i > after`` (others unchanged).

    ``O_i`` is 1, or 0 on rows with ``N_i <= offset_rows``. The power is taken of ``r / max(r)`` (same result after
    the l1 normalisation, no overflow at ``N ** p``); a row whose shifted weights are all zero (all weights equal:
    already uniform) keeps its weights. Order-preserving: a larger weight never gets a smaller re-weighted weight.
    """
    offset = (counts > offset_rows).to(weights.dtype)
    shifted = F.relu(weights * counts - offset)
    peak = shifted.amax(-1, keepdim=True)
    sharp = (shifted / peak.clamp_min(TINY)) ** power
    sharp = sharp / sharp.sum(-1, keepdim=True).clamp_min(TINY)
    use = (counts > after) & (peak > 0)
    return torch.where(use, sharp, weights)


def softplus_attention_weights(
    query: torch.Tensor,
    key: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    scaling: float,
    phi: str = "softplus",
    qk_norm: bool = True,
    length_scale: bool = True,
    reweight_power: float = 0.0,
    reweight_after: int = 0,
    offset_rows: int = 3,
) -> torch.Tensor:
    """Attention weights ``[B, H, q, S]`` (float32) of LSSA / LSSAR; ``key`` already has ``H`` heads."""
    q, k = query.float(), key.float()
    if qk_norm:
        q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    logits = torch.matmul(q, k.transpose(-1, -2))
    counts = visible_counts(mask, q.shape[-2], k.shape[-2], q.device)
    if length_scale:
        logits = logits * (math.log(q.shape[-1]) * torch.log(counts.clamp_min(1.0)))
    else:
        logits = logits * scaling
    weights = l1_weights(logits, mask, phi=phi)
    if reweight_power > 0:
        weights = reweight(weights, counts, power=reweight_power, after=reweight_after, offset_rows=offset_rows)
    return weights


def softplus_attention_reference(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None, **settings: Any
) -> torch.Tensor:
    """Attention output ``[B, H, q, D]`` in ``query``'s dtype; grouped-query KV heads are repeated here.
    ``settings``: the keyword arguments of :func:`softplus_attention_weights` (``scaling`` required)."""
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    weights = softplus_attention_weights(query, key, mask, **settings)
    return torch.matmul(weights, value.float()).to(query.dtype)
