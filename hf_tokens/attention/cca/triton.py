"""Triton forward kernel of CCA attention: one online softmax over a query's visible core tokens and local window.

One program per (block of ``BLOCK_M`` query rows, batch x head). The core keys/values ``[B, H, G, D]`` (pooled in
PyTorch by :func:`~hf_tokens.attention.cca.reference.pool_cores`) are streamed first, in ``BLOCK_N`` tiles, up to
the last group any row of the block may see; then the keys of the block's local windows, from ``s - 1`` keys before
the block's first query to its last query (grouped-query heads read ``h // group`` in place). Visibility is computed
from positions (``pad`` per row): core ``k`` when ``(k + 1) g - 1 <= t - s``, key ``p`` when ``t - s < p <= t``
and the mask allows it. So a block reads ``~ G + s + BLOCK_M`` keys, not ``S``; nothing ``[q, S]`` is
materialised. On CPU it runs only under ``TRITON_INTERPRET=1``. No backward: training uses the chunked path.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hf_tokens.attention.triton_common import launch_operands, query_tile, row_tile


@triton.jit
def _online_update(q, k, v, vis, run_max, denom, acc, scale):
    s = tl.dot(q, tl.trans(k), input_precision="ieee") * scale
    s = tl.where(vis, s, -1.0e30)
    new_max = tl.maximum(run_max, tl.max(s, axis=1))
    alpha = tl.exp(run_max - new_max)
    p = tl.where(vis, tl.exp(s - new_max[:, None]), 0.0)
    acc = acc * alpha[:, None] + tl.dot(p, v, input_precision="ieee")
    denom = denom * alpha + tl.sum(p, axis=1)
    return new_max, denom, acc


@triton.jit
def _cca_attention_kernel(
    q_ptr, k_ptr, v_ptr, ck_ptr, cv_ptr, m_ptr, pad_ptr, o_ptr,
    seq_len, q_len, n_core, heads, group, scale, group_size, window,
    s_qb, s_qh, s_qm, s_kb, s_kh, s_kn, s_vb, s_vh, s_vn, s_cb, s_ch, s_cn, s_mb, s_mm, s_ob, s_oh, s_om,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):  # fmt: skip
    pid_m, b, h, kv, offs_m, offs_d, d_ok, row_ok, q = query_tile(
        q_ptr, s_qb, s_qh, s_qm, q_len, heads, group, HEAD_DIM, BLOCK_D, BLOCK_M
    )
    offs_n = tl.arange(0, BLOCK_N)
    pad = tl.load(pad_ptr + b)
    first = seq_len - q_len + pid_m * BLOCK_M  # key index of the block's first query
    t = first + tl.arange(0, BLOCK_M) - pad  # each query's position among its row's real keys

    run_max = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)
    denom = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    # core tokens: groups that end before the window of the block's last query (row with the least padding)
    t_last = first + BLOCK_M - 1 - pad
    core_end = tl.minimum(n_core, tl.maximum((t_last - window + 1) // group_size, 0))
    for n_start in range(0, core_end, BLOCK_N):
        idx = n_start + offs_n
        inside = idx < core_end
        ck = row_tile(ck_ptr + b * s_cb + h * s_ch, idx, s_cn, offs_d, inside, d_ok)
        cv = row_tile(cv_ptr + b * s_cb + h * s_ch, idx, s_cn, offs_d, inside, d_ok)
        vis = ((idx[None, :] + 1) * group_size - 1 <= (t - window)[:, None]) & inside[None, :] & row_ok[:, None]
        vis = vis & (t >= 0)[:, None]
        run_max, denom, acc = _online_update(q, ck, cv, vis, run_max, denom, acc, scale)
    # local windows: keys from s - 1 before the first query to the last query
    lo = tl.maximum(first - window + 1, 0)
    hi = tl.minimum(first + BLOCK_M, seq_len)
    for n_start in range(lo, hi, BLOCK_N):
        idx = n_start + offs_n
        inside = idx < hi
        k = row_tile(k_ptr + b * s_kb + kv * s_kh, idx, s_kn, offs_d, inside, d_ok)
        v = row_tile(v_ptr + b * s_vb + kv * s_vh, idx, s_vn, offs_d, inside, d_ok)
        allowed = tl.load(
            m_ptr + b * s_mb + offs_m[:, None] * s_mm + idx[None, :],
            mask=row_ok[:, None] & inside[None, :],
            other=0,
        )
        p = idx - pad
        vis = (allowed != 0) & (p[None, :] <= t[:, None]) & (p[None, :] > (t - window)[:, None]) & (p >= 0)[None, :]
        run_max, denom, acc = _online_update(q, k, v, vis, run_max, denom, acc, scale)
    out = acc / tl.maximum(denom, 1e-30)[:, None]
    o_ptrs = o_ptr + b * s_ob + h * s_oh + offs_m[:, None] * s_om + offs_d[None, :]
    tl.store(o_ptrs, out.to(o_ptr.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])


def cca_attention_triton(
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
    block_m: int = 16,
    block_n: int = 16,
) -> torch.Tensor:
    """Same contract as :func:`~hf_tokens.attention.cca.reference.cca_attention_reference`."""
    query, key, value, mask8, out, grid = launch_operands(
        query, key, value, mask, kernel="CCA-attention", train_impl="chunked", block_m=block_m
    )
    heads, q_len, dim = query.shape[1:]
    n_kv, seq_len = key.shape[1], key.shape[2]
    core_k, core_v = (c.to(query.dtype).contiguous() for c in cores)
    _cca_attention_kernel[grid](
        query, key, value, core_k, core_v, mask8, pad.to(torch.int32).contiguous(), out,
        seq_len, q_len, core_k.shape[2], heads, heads // n_kv, float(scaling), int(group_size), int(local_window),
        query.stride(0), query.stride(1), query.stride(2),
        key.stride(0), key.stride(1), key.stride(2),
        value.stride(0), value.stride(1), value.stride(2),
        core_k.stride(0), core_k.stride(1), core_k.stride(2),
        mask8.stride(0), mask8.stride(1),
        out.stride(0), out.stride(1), out.stride(2),
        HEAD_DIM=dim, BLOCK_D=max(16, triton.next_power_of_2(dim)), BLOCK_M=block_m, BLOCK_N=block_n,
    )  # fmt: skip
    return out
