"""Triton pieces shared by the attention kernels (softplus, landmark, CCA): the program's query tile."""

from __future__ import annotations

import triton
import triton.language as tl


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
