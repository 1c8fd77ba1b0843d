"""A small Triton kernel for the attention suite's own tests: one program per row, softmax attention over S keys.

Imported only by the kernel check (Triton reads ``TRITON_INTERPRET`` when a kernel is defined; the test conftest
sets it on machines without a GPU).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _row_attention_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, scale, seq_len, dim, BLOCK_S: tl.constexpr, BLOCK_D: tl.constexpr
):
    row = tl.program_id(0)
    s = tl.arange(0, BLOCK_S)
    d = tl.arange(0, BLOCK_D)
    q = tl.load(q_ptr + row * dim + d, mask=d < dim, other=0.0).to(tl.float32)
    tile = row * seq_len * dim + s[:, None] * dim + d[None, :]
    inside = (s[:, None] < seq_len) & (d[None, :] < dim)
    k = tl.load(k_ptr + tile, mask=inside, other=0.0).to(tl.float32)
    logits = tl.sum(k * q[None, :], axis=1) * scale
    logits = tl.where(s < seq_len, logits, float("-inf"))
    p = tl.exp(logits - tl.max(logits, axis=0))
    p = p / tl.sum(p, axis=0)
    v = tl.load(v_ptr + tile, mask=inside, other=0.0).to(tl.float32)
    out = tl.sum(v * p[:, None], axis=0)
    tl.store(o_ptr + row * dim + d, out.to(o_ptr.dtype.element_ty), mask=d < dim)


def row_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    rows, seq_len, dim = k.shape
    out = torch.empty_like(q)
    _row_attention_kernel[(rows,)](
        q,
        k,
        v,
        out,
        float(scale),
        seq_len,
        dim,
        BLOCK_S=triton.next_power_of_2(seq_len),
        BLOCK_D=triton.next_power_of_2(dim),
    )
    return out
