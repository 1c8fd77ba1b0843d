"""Pure-PyTorch landmark attention: the grouped softmax of training and top-k block retrieval; the oracle.

Layout: each row's real (non-padding) keys are numbered ``0, 1, ...``; key ``p`` lies in block ``p // period`` and is
that block's landmark when ``p % period == period - 1`` (``period = block_size + 1``). For query ``i`` in block
``b_i`` with scaled logits ``s_ij``, the paper's grouped softmax is::

    Z_i   = sum_{j in block b_i, j <= i} exp(s_ij) + sum_{c < b_i} exp(s_i,L_c)      (own block + earlier landmarks)
    w_ij  = exp(s_ij) / Z_i                                                        j in the own block
    w_ij  = exp(s_i,L_c) / Z_i * exp(s_ij) / sum_{l in block c, l != L_c} exp(s_il)   j a regular token of block c

so the landmark's share of the group-0 softmax is spread over its block's tokens (a landmark of an earlier block
gives no value of its own). Rows sum to one; with one block this is causal softmax attention. Retrieval
(``top_k > 0``) keeps, per query and head, only the ``top_k`` earlier landmarks with the largest ``s_i,L_c`` (and
their blocks); the rest leave ``Z_i``.

Shapes follow transformers: ``query`` ``[B, H, q, D]``, ``key``/``value`` ``[B, H_kv, S, D]``, ``mask`` a bool
``[B, 1, q, S]`` (causal + padding, True = may attend) whose last row marks the real keys; the queries are the
last ``q`` keys (prefill or cached decoding). Computed in float32, returned in ``query``'s dtype.
"""

from __future__ import annotations

import torch

TINY = 1e-30


def key_positions(mask: torch.Tensor | None, batch: int, s_len: int, device: torch.device) -> torch.Tensor:
    """Position of every key among its row's real keys, ``[B, S]`` (``-1`` for padding)."""
    if mask is None:
        return torch.arange(s_len, device=device).expand(batch, s_len)
    real = mask[:, 0, -1, :].expand(batch, s_len)
    return torch.where(real, real.long().cumsum(-1) - 1, torch.full_like(real, -1, dtype=torch.long))


def layout(
    mask: torch.Tensor | None, batch: int, q_len: int, s_len: int, period: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(key_block [B, 1, 1, S], is_landmark [B, 1, 1, S], query_block [B, 1, q, 1])``; padding gets block -1."""
    pos = key_positions(mask, batch, s_len, device)
    kblock = torch.div(pos, period, rounding_mode="floor")
    landmark = (pos >= 0) & (pos % period == period - 1)
    qblock = kblock[:, s_len - q_len :]
    return kblock[:, None, None, :], landmark[:, None, None, :], qblock[:, None, :, None]


def landmark_attention_weights(
    query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None, *, scaling: float, period: int, top_k: int = 0
) -> torch.Tensor:
    """Grouped-softmax weights ``[B, H, q, S]`` (float32); ``key`` already has ``H`` heads."""
    batch, _, q_len, _ = query.shape
    s_len = key.shape[-2]
    s = torch.matmul(query.float(), key.float().transpose(-1, -2)) * scaling
    visible = torch.ones_like(s, dtype=torch.bool) if mask is None else mask.expand_as(s)
    kblock, landmark, qblock = layout(mask, batch, q_len, s_len, period, s.device)
    earlier = visible & (kblock >= 0) & (kblock < qblock)
    direct = visible & (kblock == qblock) & (qblock >= 0)
    gate = earlier & landmark
    if top_k > 0:
        gate = gate & retrieved(s, gate, top_k)
    n_blocks = int(kblock.max().item()) + 1 if s_len else 0
    index = kblock.clamp_min(0).expand_as(s)
    kept = torch.zeros(*s.shape[:-1], max(n_blocks, 1), dtype=torch.bool, device=s.device)
    kept = kept.scatter_reduce(-1, index, gate, reduce="amax")  # earlier blocks whose landmark is kept
    member = earlier & ~landmark & kept.gather(-1, index)

    hidden = torch.finfo(s.dtype).min
    # group 0: the own block and the kept landmarks
    g0 = s.masked_fill(~(direct | gate), hidden)
    p0 = torch.exp(g0 - g0.amax(-1, keepdim=True)).masked_fill(~(direct | gate), 0.0)
    p0 = p0 / p0.sum(-1, keepdim=True).clamp_min(TINY)
    # groups c: softmax inside each earlier block, weighted by the group-0 weight of the block's landmark
    sm = s.masked_fill(~member, hidden)
    block_max = torch.full_like(kept, hidden, dtype=s.dtype).scatter_reduce(-1, index, sm, reduce="amax")
    e = torch.exp(sm - block_max.gather(-1, index)).masked_fill(~member, 0.0)
    block_sum = torch.zeros_like(block_max).scatter_add(-1, index, e)
    gate_p = torch.zeros_like(block_max).scatter_add(-1, index, p0 * gate)
    inside = e / block_sum.gather(-1, index).clamp_min(TINY)
    return torch.where(direct, p0, 0.0) + inside * gate_p.gather(-1, index)


def retrieved(scores: torch.Tensor, gate: torch.Tensor, top_k: int) -> torch.Tensor:
    """Bool ``[B, H, q, S]``: the ``top_k`` landmark keys (among ``gate``) with the largest score per row."""
    k = min(top_k, scores.shape[-1])
    masked = scores.masked_fill(~gate, float("-inf"))
    top = masked.topk(k, dim=-1).indices
    keep = torch.zeros_like(gate).scatter(-1, top, True)
    return keep & gate


def landmark_attention_reference(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    scaling: float,
    period: int,
    top_k: int = 0,
) -> torch.Tensor:
    """Attention output ``[B, H, q, D]`` in ``query``'s dtype; grouped-query KV heads are repeated here. A one-token
    step with ``top_k > 0`` over a left-padded cache reads only the retrieved blocks
    (:func:`~hf_tokens.attention.landmark.retrieval.retrieval_step`); otherwise the weights are materialised."""
    if top_k > 0 and query.shape[2] == 1:
        from hf_tokens.attention.landmark.retrieval import left_padding, retrieval_step

        pad = left_padding(mask, query.shape[0], key.shape[2])
        if pad is not None:
            out = retrieval_step(query, key, value, pad, scaling=scaling, period=period, top_k=top_k)
            return out.to(query.dtype)
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    weights = landmark_attention_weights(query, key, mask, scaling=scaling, period=period, top_k=top_k)
    return torch.matmul(weights, value.float()).to(query.dtype)
