"""Block retrieval for one decoding step: read only the top-k blocks, not the whole cache.

The cache (any transformers cache that keeps every key, e.g. ``DynamicCache``) holds all blocks; a one-token step
scores the query against the landmark keys alone (a strided gather, ``S / period`` keys), keeps the ``top_k``
landmarks per query head, gathers those blocks' regular keys and values and the current block, and runs the grouped
softmax on them. The result equals :func:`~hf_tokens.attention.landmark.reference.landmark_attention_weights` with
the same ``top_k`` (the same blocks are kept); the step reads ``<= period + top_k * block_size + S / period`` keys.
"""

from __future__ import annotations

import torch


def left_padding(mask: torch.Tensor | None, batch: int, s_len: int) -> torch.Tensor | None:
    """Padding count per row ``[B]`` when each row's real keys are a suffix (left padding), else ``None``."""
    if mask is None:
        return torch.zeros(batch, dtype=torch.long)
    real = mask[:, 0, -1, :].expand(batch, s_len)
    n_real = real.sum(-1)
    suffix = torch.arange(s_len, device=real.device)[None, :] >= s_len - n_real[:, None]
    return (s_len - n_real).long() if torch.equal(real, suffix) else None


def retrieval_step(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    pad: torch.Tensor,
    *,
    scaling: float,
    period: int,
    top_k: int,
) -> torch.Tensor:
    """Output ``[B, H, 1, D]`` (float32) of one query per row; ``key``/``value`` ``[B, H_kv, S, D]`` with ``H_kv``
    dividing ``H`` (grouped-query heads read their KV head in place, nothing is repeated), ``pad`` the left padding
    per row (the query is the last key). Each query head retrieves its own ``top_k`` blocks."""
    batch, heads, _, dim = query.shape
    n_kv, s_len, block = key.shape[1], key.shape[2], period - 1
    groups = heads // n_kv
    device = query.device
    pad = pad.to(device)
    q_pos = s_len - 1 - pad  # the query's position among its row's real keys
    q_block = torch.div(q_pos, period, rounding_mode="floor")
    q = query.float().reshape(batch, n_kv, groups, dim)  # the query heads of a KV head are contiguous

    def take(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:  # idx [B, n_kv, n] -> [B, n_kv, n, D]
        return t.gather(2, idx.clamp(0, s_len - 1)[..., None].expand(-1, -1, -1, t.shape[-1])).float()

    hidden = float("-inf")
    # landmarks of the earlier blocks (shared by the heads): block c's landmark sits at pad + c * period + block
    n_blocks = max(int(q_block.max()), 1)
    blocks = torch.arange(n_blocks, device=device)
    mark_idx = pad[:, None] + blocks[None, :] * period + block  # [B, n]
    marks = take(key, mark_idx[:, None, :].expand(batch, n_kv, n_blocks))
    earlier = (blocks[None, :] < q_block[:, None])[:, None, None, :]
    mark_s = torch.einsum("bkgd,bknd->bkgn", q, marks).mul(scaling).masked_fill(~earlier, hidden)
    k = min(top_k, n_blocks)
    top_s, top_c = mark_s.topk(k, dim=-1)  # [B, n_kv, G, k]: every query head its own blocks
    kept = top_s > hidden
    # the current block's keys (up to the query) and the kept blocks' regular keys
    offs = torch.arange(period, device=device)
    own_idx = (pad + q_block * period)[:, None] + offs[None, :]  # [B, period]
    own_ok = (own_idx <= s_len - 1)[:, None, None, :]
    own_idx = own_idx[:, None, :].expand(batch, n_kv, period)
    own_s = torch.einsum("bkgd,bknd->bkgn", q, take(key, own_idx)).mul(scaling).masked_fill(~own_ok, hidden)
    member_idx = ((pad[:, None, None, None] + top_c * period)[..., None] + offs[:block]).flatten(2)
    member_k = take(key, member_idx).view(batch, n_kv, groups, k * block, -1)
    member_s = torch.einsum("bkgd,bkgnd->bkgn", q, member_k).mul(scaling).view(batch, n_kv, groups, k, block)
    member_s = member_s.masked_fill(~kept[..., None], hidden)

    # group 0: own block + kept landmarks; then a softmax inside each kept block
    p0 = torch.softmax(torch.cat([own_s, top_s], dim=-1), dim=-1)
    p_own, p_gate = p0[..., :period], p0[..., period:]
    inside = torch.softmax(member_s, dim=-1).nan_to_num(0.0)  # rows of unkept blocks: all -inf -> 0
    member_w = (inside * p_gate[..., None]).flatten(3)  # [B, n_kv, G, k * block]
    member_v = take(value, member_idx).view(batch, n_kv, groups, k * block, -1)
    out = torch.einsum("bkgn,bknd->bkgd", p_own, take(value, own_idx))
    out = out + torch.einsum("bkgn,bkgnd->bkgd", member_w, member_v)
    return out.reshape(batch, heads, 1, -1)
