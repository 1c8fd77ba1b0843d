"""Triton pieces shared by the attention kernels (softplus, landmark, CCA): the program's query tile and key/value
row tiles, and the host-side preparation of a launch (:func:`launch_operands`)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl


def launch_operands(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    kernel: str,
    train_impl: str,
    block_m: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int]]:
    """``(query, key, value, mask8, out, grid)`` for a forward-only attention kernel over ``query`` ``[B, H, q, D]``
    and ``key``/``value`` ``[B, H_kv, S, D]``: a RuntimeError (naming ``kernel`` and ``train_impl``) when autograd
    would need a backward, a ValueError for a per-head mask; inputs with unit stride in the last dim, the bool mask
    ``[B, 1, q, S]`` as int8 ``[B, q, S]`` (``None``: all ones), an empty output like ``query`` and the launch grid
    (blocks of ``block_m`` queries, ``B * H``)."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in (query, key, value)):
        raise RuntimeError(f"the {kernel} Triton kernel is forward-only (inference); train with impl={train_impl!r}")
    batch, heads, q_len, _ = query.shape
    seq_len = key.shape[2]
    if mask is None:
        mask8 = torch.ones(1, q_len, seq_len, dtype=torch.int8, device=query.device).expand(batch, -1, -1)
    else:
        if mask.shape[1] != 1:
            raise ValueError(f"the Triton kernel takes a mask shared by the heads ([B, 1, q, S]), got {mask.shape}")
        mask8 = mask[:, 0].to(torch.int8).expand(batch, -1, -1)
    query, key, value = (t if t.stride(-1) == 1 else t.contiguous() for t in (query, key, value))
    mask8 = mask8 if mask8.stride(-1) == 1 else mask8.contiguous()
    return query, key, value, mask8, torch.empty_like(query), (triton.cdiv(q_len, block_m), batch * heads)


@triton.jit
def query_tile(
    q_ptr, s_qb, s_qh, s_qm, q_len, heads, group,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr,
):  # fmt: skip
    """The program's query block (axis 0) and (batch, head) (axis 1): returns ``pid_m, b, h, kv`` (the head's KV
    head under grouped-query attention), the query offsets ``offs_m``, the feature offsets ``offs_d`` with their
    mask ``d_ok``, the valid-query mask ``row_ok`` and the query tile ``[BLOCK_M, BLOCK_D]`` in float32."""
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // heads
    h = pid_bh % heads
    kv = h // group
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < HEAD_DIM
    row_ok = offs_m < q_len
    q = tl.load(
        q_ptr + b * s_qb + h * s_qh + offs_m[:, None] * s_qm + offs_d[None, :],
        mask=row_ok[:, None] & d_ok[None, :],
        other=0.0,
    ).to(tl.float32)
    return pid_m, b, h, kv, offs_m, offs_d, d_ok, row_ok, q


@triton.jit
def row_tile(base_ptr, idx, stride, offs_d, rows_ok, d_ok):
    """Rows ``idx`` (stride ``stride``) of a ``[rows, HEAD_DIM]`` slice starting at ``base_ptr``, as a float32 tile
    ``[len(idx), BLOCK_D]``; rows outside ``rows_ok`` and features outside ``d_ok`` read as zero."""
    return tl.load(
        base_ptr + idx[:, None] * stride + offs_d[None, :],
        mask=rows_ok[:, None] & d_ok[None, :],
        other=0.0,
    ).to(tl.float32)
