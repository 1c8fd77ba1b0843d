"""Triton forward kernel of landmark attention's grouped softmax (every earlier block; no retrieval); inference only.

One program per (block of ``BLOCK_M`` query rows, batch x head) walks its row's key blocks, one tile per block of
``period = block_size + 1`` keys (the tile starts at the row's left padding, so tiles are the blocks of the layout).
The grouped softmax is an online softmax over *items*:

* in the query's own block every visible key is an item (logit ``s_ij``, value ``v_j``);
* an earlier block is one item whose logit is its landmark's ``s_i,L_c`` and whose value is the block's softmax
  average ``sum_j exp(s_ij) v_j / sum_j exp(s_ij)`` over its regular tokens.

This is the same as :func:`~hf_tokens.attention.landmark.reference.landmark_attention_weights` followed by the
weighted sum of values, without materialising ``[q, S]``. Grouped-query heads read their KV head in place. The real
keys of each row must be a suffix (left padding), which the wrapper checks. On CPU it runs under
``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hf_tokens.attention.triton_common import launch_operands, query_tile, row_tile


@triton.jit
def _landmark_attention_kernel(
    q_ptr, k_ptr, v_ptr, m_ptr, pad_ptr, o_ptr,
    seq_len, q_len, heads, group, scale, period, n_tiles,
    s_qb, s_qh, s_qm, s_kb, s_kh, s_kn, s_vb, s_vh, s_vn, s_mb, s_mm, s_ob, s_oh, s_om,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    _, b, h, kv, offs_m, offs_d, d_ok, row_ok, q = query_tile(
        q_ptr, s_qb, s_qh, s_qm, q_len, heads, group, HEAD_DIM, BLOCK_D, BLOCK_M
    )
    offs_t = tl.arange(0, BLOCK_N)
    pad = tl.load(pad_ptr + b)
    # each query's block: its position among the real keys (queries are the last q_len keys) // period
    q_pos = seq_len - q_len + offs_m - pad
    q_block = tl.where(q_pos >= 0, q_pos // period, -1)

    big_neg = -1.0e30
    run_max = tl.full([BLOCK_M], big_neg, dtype=tl.float32)
    denom = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    for c in range(0, n_tiles):
        idx = pad + c * period + offs_t
        inside = (offs_t < period) & (idx < seq_len)
        k = row_tile(k_ptr + b * s_kb + kv * s_kh, idx, s_kn, offs_d, inside, d_ok)
        v = row_tile(v_ptr + b * s_vb + kv * s_vh, idx, s_vn, offs_d, inside, d_ok)
        s = tl.dot(q, tl.trans(k), input_precision="ieee") * scale
        vis = tl.load(
            m_ptr + b * s_mb + offs_m[:, None] * s_mm + idx[None, :],
            mask=row_ok[:, None] & inside[None, :],
            other=0,
        )
        own = (q_block == c)[:, None] & (vis != 0)
        earlier = row_ok & (q_block > c)
        regular = inside & (offs_t < period - 1)
        # an earlier block: its landmark's logit and the softmax average of its regular tokens' values
        s_reg = tl.where(regular[None, :], s, big_neg)
        block_max = tl.max(s_reg, axis=1)
        e_reg = tl.where(regular[None, :] & earlier[:, None], tl.exp(s_reg - block_max[:, None]), 0.0)
        block_sum = tl.maximum(tl.sum(e_reg, axis=1), 1e-30)
        local = tl.dot(e_reg, v, input_precision="ieee") / block_sum[:, None]
        gate = tl.sum(tl.where((offs_t == period - 1)[None, :] & inside[None, :], s, 0.0), axis=1)
        # online softmax over the items of this tile
        own_max = tl.max(tl.where(own, s, big_neg), axis=1)
        new_max = tl.maximum(run_max, tl.where(earlier, gate, own_max))
        alpha = tl.exp(run_max - new_max)
        p_own = tl.where(own, tl.exp(tl.where(own, s, big_neg) - new_max[:, None]), 0.0)
        p_gate = tl.where(earlier, tl.exp(tl.where(earlier, gate, big_neg) - new_max), 0.0)
        acc = acc * alpha[:, None] + tl.dot(p_own, v, input_precision="ieee") + p_gate[:, None] * local
        denom = denom * alpha + tl.sum(p_own, axis=1) + p_gate
        run_max = new_max
    out = acc / tl.maximum(denom, 1e-30)[:, None]
    o_ptrs = o_ptr + b * s_ob + h * s_oh + offs_m[:, None] * s_om + offs_d[None, :]
    tl.store(o_ptrs, out.to(o_ptr.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])


def landmark_attention_triton(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    scaling: float,
    period: int,
    top_k: int = 0,
    block_m: int = 16,
) -> torch.Tensor:
    """Same contract as :func:`~hf_tokens.attention.landmark.reference.landmark_attention_reference` (``top_k=0``)."""
    if top_k:
        raise ValueError("the landmark Triton kernel has no block retrieval; use impl='reference' with top_k > 0")
    query, key, value, mask8, out, grid = launch_operands(
        query, key, value, mask, kernel="landmark-attention", train_impl="reference", block_m=block_m
    )
    batch, heads, q_len, dim = query.shape
    n_kv, seq_len = key.shape[1], key.shape[2]
    if mask is None:
        pad = torch.zeros(batch, dtype=torch.int32, device=query.device)
    else:
        real = mask[:, 0, -1, :].expand(batch, seq_len)
        n_real = real.sum(-1)
        if not torch.equal(real, torch.arange(seq_len, device=real.device)[None, :] >= seq_len - n_real[:, None]):
            raise ValueError("the landmark Triton kernel needs left padding (each row's real keys at the end)")
        pad = (seq_len - n_real).to(torch.int32)
    tile = max(16, triton.next_power_of_2(min(period, max(seq_len, 1))))
    _landmark_attention_kernel[grid](
        query, key, value, mask8, pad, out,
        seq_len, q_len, heads, heads // n_kv, float(scaling), int(period), triton.cdiv(seq_len, period),
        query.stride(0), query.stride(1), query.stride(2),
        key.stride(0), key.stride(1), key.stride(2),
        value.stride(0), value.stride(1), value.stride(2),
        mask8.stride(0), mask8.stride(1),
        out.stride(0), out.stride(1), out.stride(2),
        HEAD_DIM=dim, BLOCK_D=max(16, triton.next_power_of_2(dim)), BLOCK_M=block_m, BLOCK_N=tile,
    )  # fmt: skip
    return out
