"""Triton kernel for the Q.K logits of TokenSelect's selection: one program per (batch x head, block of tokens).

Each program loads one query vector, a ``BLOCK_S x D`` tile of its KV head's keys, and writes ``BLOCK_S`` float32
logits. Grouped-query attention is handled by indexing the key head ``h // group``; keys are read in place (any
strides), so the cache never copies or repeats them. On CPU it runs only under ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _qk_logits_kernel(
    q_ptr,
    k_ptr,
    out_ptr,
    scale,
    seq_len,
    heads,
    group,
    stride_qb,
    stride_qh,
    stride_kb,
    stride_kh,
    stride_ks,
    stride_ob,
    stride_oh,
    HEAD_DIM: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    pid_bh = tl.program_id(0)
    pid_s = tl.program_id(1)
    b = pid_bh // heads
    h = pid_bh % heads
    kv = h // group
    d = tl.arange(0, BLOCK_D)
    s = pid_s * BLOCK_S + tl.arange(0, BLOCK_S)
    q = tl.load(q_ptr + b * stride_qb + h * stride_qh + d, mask=d < HEAD_DIM, other=0.0).to(tl.float32)
    k_ptrs = k_ptr + b * stride_kb + kv * stride_kh + s[:, None] * stride_ks + d[None, :]
    k = tl.load(k_ptrs, mask=(s[:, None] < seq_len) & (d[None, :] < HEAD_DIM), other=0.0).to(tl.float32)
    logits = tl.sum(k * q[None, :], axis=1) * scale
    tl.store(out_ptr + b * stride_ob + h * stride_oh + s, logits, mask=s < seq_len)


def qk_logits_triton(query: torch.Tensor, keys: torch.Tensor, scale: float, block_s: int = 64) -> torch.Tensor:
    batch, heads, dim = query.shape
    n_kv, seq_len = keys.shape[1], keys.shape[2]
    if query.stride(-1) != 1:
        query = query.contiguous()
    if keys.stride(-1) != 1:
        keys = keys.contiguous()
    out = torch.empty(batch, heads, seq_len, device=query.device, dtype=torch.float32)
    if seq_len == 0:
        return out
    grid = (batch * heads, triton.cdiv(seq_len, block_s))
    _qk_logits_kernel[grid](
        query,
        keys,
        out,
        float(scale),
        seq_len,
        heads,
        heads // n_kv,
        query.stride(0),
        query.stride(1),
        keys.stride(0),
        keys.stride(1),
        keys.stride(2),
        out.stride(0),
        out.stride(1),
        HEAD_DIM=dim,
        BLOCK_D=triton.next_power_of_2(dim),
        BLOCK_S=block_s,
    )
    return out
