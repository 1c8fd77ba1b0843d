"""PyTorch CCA attention: core-token pooling, the materialised oracle and the chunked O(L (L/g + s)) path.

Layout (per row, over its real keys; the real keys must be a suffix of the row, i.e. left padding): real key ``p``
lies in group ``p // g``; group ``k`` is complete once its last token ``(k + 1) g - 1`` exists. Its core key and
value are the group's keys and values weighted by the softmax of the attention its last token's query gives them
(the paper's significance weights ``softmax(q_last K_group^T / sqrt(d))``, per query head), pooled after the rotary
embedding. A query at real position ``t`` attends in **one** softmax to

* the core tokens of the groups that end before its local window: ``(k + 1) g - 1 <= t - s``;
* its ``s`` most recent tokens, ``t - s < p <= t`` (and what the model's mask allows).

With ``g = 1`` every core token is its own key and value, so this is full causal attention (any ``s``); with
``s`` covering the row it is too. Shapes follow transformers: ``query`` ``[B, H, q, D]`` (the last ``q`` keys),
``key``/``value`` ``[B, H_kv, S, D]``, ``mask`` a bool ``[B, 1, q, S]`` or ``None``; core tensors ``[B, H, G, D]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hf_tokens.attention.landmark.retrieval import left_padding

TINY = 1e-30
FEW_QUERIES = 16  # up to this many queries the chunked path materialises the logits (no per-head key copies)


def row_padding(mask: torch.Tensor | None, batch: int, s_len: int, device: torch.device) -> torch.Tensor:
    """Left padding per row ``[B]`` (long); a ValueError when a row's real keys are not a suffix."""
    pad = left_padding(mask, batch, s_len)
    if pad is None:
        raise ValueError(
            "CCA attention needs left padding (each row's real tokens at the end of the row): its groups are "
            "counted over each row's real tokens; got an attention_mask with padding elsewhere"
        )
    return pad.to(device)


def n_groups(s_len: int, pad: torch.Tensor, group_size: int) -> int:
    """The largest number of complete groups over the rows."""
    return max(0, int(s_len - int(pad.min())) // group_size)


def pool_cores(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    pad: torch.Tensor,
    past: tuple[torch.Tensor, torch.Tensor] | None,
    *,
    group_size: int,
    scaling: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Core keys and values ``[B, H, G, D]`` (float32) of every complete group. Groups whose last token is one of
    the ``q`` queries are pooled here; earlier ones come from ``past`` (the cores of the previous call), which must
    then be given. Incomplete groups (and padding) get zeros; they are never visible."""
    batch, heads, q_len, dim = query.shape
    n_kv, s_len = key.shape[1], key.shape[2]
    rep = heads // n_kv
    total = n_groups(s_len, pad, group_size)
    first_query = s_len - q_len
    # the first group whose last token may be among the queries (for the row with the most padding)
    k0 = max(0, -(-(first_query - int(pad.max()) + 1) // group_size) - 1)
    k0 = min(k0, total)
    device = query.device
    groups = torch.arange(k0, total, device=device)
    last = pad[:, None] + (groups[None, :] + 1) * group_size - 1  # [B, G'] key index of each group's last token
    complete = last <= s_len - 1
    fresh = complete & (last >= first_query)
    idx = pad[:, None, None] + groups[None, :, None] * group_size + torch.arange(group_size, device=device)
    idx = idx.clamp(0, s_len - 1).reshape(batch, -1)  # [B, G' g]
    n_new = groups.numel()

    def gathered(t: torch.Tensor) -> torch.Tensor:
        out = t.float().gather(2, idx[:, None, :, None].expand(batch, n_kv, idx.shape[1], dim))
        return out.view(batch, n_kv, n_new, group_size, dim)

    k_g, v_g = gathered(key), gathered(value)
    q_idx = (last - first_query).clamp(0, q_len - 1)
    q_last = query.float().gather(2, q_idx[:, None, :, None].expand(batch, heads, n_new, dim))
    q_last = q_last.view(batch, n_kv, rep, n_new, dim)
    weights = torch.softmax(torch.einsum("bkrgd,bkgjd->bkrgj", q_last, k_g) * scaling, dim=-1)
    core_k = torch.einsum("bkrgj,bkgjd->bkrgd", weights, k_g).reshape(batch, heads, n_new, dim)
    core_v = torch.einsum("bkrgj,bkgjd->bkrgd", weights, v_g).reshape(batch, heads, n_new, dim)
    keep = fresh[:, None, :, None]
    stale = complete & ~fresh
    needed = k0 + (int(stale.nonzero()[:, 1].max()) + 1 if bool(stale.any()) else 0)
    if past is None:
        if needed > 0:
            raise ValueError(
                "CCA attention needs the core tokens of the groups completed before these queries (the queries are "
                "the last keys of a cache): pass past=... / run the prefill through hf_tokens_cca first"
            )
        zeros = torch.zeros_like(core_k)
        return torch.where(keep, core_k, zeros), torch.where(keep, core_v, zeros)
    old_k, old_v = (t.float() for t in past)
    if old_k.shape[2] < needed:
        raise ValueError(f"past holds {old_k.shape[2]} core tokens per row, these queries need {needed}")

    def merged(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        if old.shape[2] < total:
            old = F.pad(old, (0, 0, 0, total - old.shape[2]))
        tail = torch.where(keep, new, old[:, :, k0:total])
        return torch.cat([old[:, :, :k0], tail], dim=2)

    return merged(core_k, old_k), merged(core_v, old_v)


def visibility(
    pad: torch.Tensor, q_len: int, s_len: int, n_core: int, *, group_size: int, local_window: int, k_start: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(core [B, q, G], local [B, q, S - k_start])`` bool: which core tokens and which of the keys ``k_start ..
    s_len - 1`` each query attends to; query ``i`` is key ``s_len - q_len + i``."""
    device = pad.device
    t = s_len - q_len + torch.arange(q_len, device=device)[None, :] - pad[:, None]  # [B, q]
    groups = torch.arange(n_core, device=device)
    core = (groups[None, None, :] + 1) * group_size - 1 <= (t - local_window)[:, :, None]
    p = torch.arange(k_start, s_len, device=device)[None, :] - pad[:, None]  # [B, S - k_start]
    local = (p[:, None, :] <= t[:, :, None]) & (p[:, None, :] > (t - local_window)[:, :, None]) & (p >= 0)[:, None]
    return core & (t >= 0)[:, :, None], local


def key_span(
    first: int, end: int, min_pad: int, n_cores: int, *, group_size: int, local_window: int
) -> tuple[int, int]:
    """``(lo, n_core)`` for the queries at keys ``first .. end - 1``: the first key of their windows, and how many of
    the ``n_cores`` core tokens the last query of the least-padded row (``min_pad``) may see."""
    lo = max(0, first - local_window + 1)
    return lo, min(n_cores, max(0, (end - 1 - min_pad - local_window + 1) // group_size))


def masked_softmax(logits: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Softmax of ``logits`` over the last dim restricted to ``vis`` (broadcast); a row that sees nothing gives
    zeros."""
    logits = logits.masked_fill(~vis, torch.finfo(logits.dtype).min)
    w = torch.exp(logits - logits.amax(-1, keepdim=True)).masked_fill(~vis, 0.0)
    return w / w.sum(-1, keepdim=True).clamp_min(TINY)


def cca_attention_reference(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    cores: tuple[torch.Tensor, torch.Tensor],
    pad: torch.Tensor,
    *,
    scaling: float,
    group_size: int,
    local_window: int,
) -> torch.Tensor:
    """The oracle: one softmax over ``[core logits | key logits]`` with both materialised; output ``[B, H, q, D]``
    in ``query``'s dtype (a row that sees nothing gives zeros)."""
    heads, q_len = query.shape[1], query.shape[2]
    rep = heads // key.shape[1]
    key, value = key.repeat_interleave(rep, dim=1).float(), value.repeat_interleave(rep, dim=1).float()
    core_k, core_v = (t.float() for t in cores)
    core_vis, local_vis = visibility(
        pad, q_len, key.shape[2], core_k.shape[2], group_size=group_size, local_window=local_window
    )
    if mask is not None:
        local_vis = local_vis & mask[:, 0]
    vis = torch.cat([core_vis, local_vis], dim=-1)[:, None]
    q = query.float()
    w = masked_softmax(torch.cat([q @ core_k.transpose(-1, -2), q @ key.transpose(-1, -2)], dim=-1) * scaling, vis)
    return (w @ torch.cat([core_v, value], dim=2)).to(query.dtype)


def cca_attention_chunked(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    cores: tuple[torch.Tensor, torch.Tensor],
    pad: torch.Tensor,
    *,
    scaling: float,
    group_size: int,
    local_window: int,
    chunk: int | None = None,
) -> torch.Tensor:
    """Same result as :func:`cca_attention_reference`, at O(q (G + s)) cost: blocks of ``chunk`` queries (default
    ``max(s // 2, 64)``), each one ``scaled_dot_product_attention`` over the core tokens its queries may see and the
    keys of its local windows (a bool mask selects each query's part). Differentiable (the training path). At most
    ``FEW_QUERIES`` queries (cached decoding) take :func:`cca_attention_few_queries` instead."""
    heads, q_len = query.shape[1], query.shape[2]
    s_len = key.shape[2]
    rep = heads // key.shape[1]
    if q_len <= FEW_QUERIES:
        settings = {"scaling": scaling, "group_size": group_size, "local_window": local_window}
        return cca_attention_few_queries(query, key, value, mask, cores, pad, **settings)
    chunk = max(local_window // 2, 64) if chunk is None else chunk
    core_k, core_v = (t.to(query.dtype) for t in cores)
    min_pad = int(pad.min())
    span = {"group_size": group_size, "local_window": local_window}
    outs = []
    for a in range(0, q_len, chunk):
        c = min(chunk, q_len - a)
        hi = s_len - q_len + a + c
        lo, n_core = key_span(s_len - q_len + a, hi, min_pad, core_k.shape[2], **span)
        core_vis, local_vis = visibility(
            pad, c, hi, n_core, group_size=group_size, local_window=local_window, k_start=lo
        )
        if mask is not None:
            local_vis = local_vis & mask[:, 0, a : a + c, lo:hi]
        vis = torch.cat([core_vis, local_vis], dim=-1)
        seen = vis.any(-1, keepdim=True)
        vis = (vis | ~seen)[:, None]
        k = torch.cat([core_k[:, :, :n_core], key[:, :, lo:hi].repeat_interleave(rep, dim=1)], dim=2)
        v = torch.cat([core_v[:, :, :n_core], value[:, :, lo:hi].repeat_interleave(rep, dim=1)], dim=2)
        out = F.scaled_dot_product_attention(query[:, :, a : a + c], k, v, attn_mask=vis, scale=scaling)
        outs.append(out * seen[:, None].to(out.dtype))
    return torch.cat(outs, dim=2) if outs else query.new_zeros(query.shape)


def cca_attention_few_queries(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    cores: tuple[torch.Tensor, torch.Tensor],
    pad: torch.Tensor,
    *,
    scaling: float,
    group_size: int,
    local_window: int,
) -> torch.Tensor:
    """Same result as :func:`cca_attention_reference` for a few queries (a decoding step): the logits over the
    visible core tokens and the keys of the queries' windows, materialised in float32 with the query heads grouped
    per key/value head, so the window's keys and values are read in place, never repeated per query head."""
    batch, heads, q_len, dim = query.shape
    n_kv, s_len = key.shape[1], key.shape[2]
    lo, n_core = key_span(s_len - q_len, s_len, int(pad.min()), cores[0].shape[2], group_size=group_size,
                          local_window=local_window)  # fmt: skip
    core_k, core_v = (t[:, :, :n_core].float() for t in cores)
    core_vis, local_vis = visibility(
        pad, q_len, s_len, n_core, group_size=group_size, local_window=local_window, k_start=lo
    )
    if mask is not None:
        local_vis = local_vis & mask[:, 0, :, lo:]
    vis = torch.cat([core_vis, local_vis], dim=-1)[:, None]
    q = query.float()
    grouped = q.reshape(batch, n_kv, -1, dim)  # query head h = kv head h // rep, as repeat_interleave pairs them
    local = (grouped @ key[:, :, lo:].float().transpose(-1, -2)).view(batch, heads, q_len, -1)
    w = masked_softmax(torch.cat([q @ core_k.transpose(-1, -2), local], dim=-1) * scaling, vis)
    w_local = w[..., n_core:].reshape(batch, n_kv, -1, s_len - lo)
    out = w[..., :n_core] @ core_v + (w_local @ value[:, :, lo:].float()).view(batch, heads, q_len, dim)
    return out.to(query.dtype)
