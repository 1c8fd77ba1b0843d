"""Triton kernel of ``x @ dequantize(W).T + bias`` for RSQ's packed weights (layout in :mod:`.packing`).

One program computes a ``BLOCK_M x BLOCK_N`` tile of the output: for each ``BLOCK_K`` slice of the input features
it loads the int32 words holding those codes, extracts them with a shift and a mask, dequantizes them with their
group's scale and zero point, and multiplies with ``tl.dot`` into a float32 accumulator: the float weight is never
written to memory. On CPU it runs only under ``TRITON_INTERPRET=1`` (tests); the PyTorch reference
(:func:`~.modules.dequant_linear` with ``impl="reference"``) is the oracle.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _dequant_matmul_kernel(
    x_ptr,
    qw_ptr,
    s_ptr,
    z_ptr,
    b_ptr,
    y_ptr,
    M,
    N,
    K,
    group,
    stride_xm,
    stride_qn,
    stride_sn,
    stride_ym,
    BITS: tl.constexpr,
    PER: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        k_ok = rk < K
        x = tl.load(x_ptr + rm[:, None] * stride_xm + rk[None, :], mask=(rm < M)[:, None] & k_ok[None, :], other=0.0)
        w_mask = k_ok[:, None] & (rn < N)[None, :]
        words = tl.load(qw_ptr + rn[None, :] * stride_qn + (rk // PER)[:, None], mask=w_mask, other=0)
        codes = (words >> ((rk % PER) * BITS)[:, None]) & ((1 << BITS) - 1)
        g = rk // group
        scale = tl.load(s_ptr + rn[None, :] * stride_sn + g[:, None], mask=w_mask, other=0.0).to(tl.float32)
        zero = tl.load(z_ptr + rn[None, :] * stride_sn + g[:, None], mask=w_mask, other=0).to(tl.float32)
        w = (codes.to(tl.float32) - zero) * scale  # [BLOCK_K, BLOCK_N]
        if x.dtype == tl.float32:
            acc += tl.dot(x, w, input_precision="ieee")
        else:
            acc += tl.dot(x, w.to(x.dtype))
    if HAS_BIAS:
        acc += tl.load(b_ptr + rn, mask=rn < N, other=0.0).to(tl.float32)[None, :]
    out_mask = (rm < M)[:, None] & (rn < N)[None, :]
    tl.store(y_ptr + rm[:, None] * stride_ym + rn[None, :], acc.to(y_ptr.dtype.element_ty), mask=out_mask)


def triton_dequant_linear(
    x: torch.Tensor,
    qweight: torch.Tensor,
    scales: torch.Tensor,
    qzeros: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    bits: int,
    group_size: int,
) -> torch.Tensor:
    """``x [..., K] @ dequantize(W).T + bias`` with the Triton kernel (``x`` float32/16, bf16)."""
    k = x.shape[-1]
    n = qweight.shape[0]
    x2 = x.reshape(-1, k).contiguous()
    m = x2.shape[0]
    y = torch.empty(m, n, device=x.device, dtype=x.dtype)
    qweight, scales, qzeros = qweight.contiguous(), scales.contiguous(), qzeros.contiguous()
    if scales.stride(0) != qzeros.stride(0):
        raise ValueError("scales and qzeros must have the same shape")
    block_m = 16 if m <= 16 else 64
    block_n, block_k = 64, 32
    grid = (triton.cdiv(m, block_m), triton.cdiv(n, block_n))
    _dequant_matmul_kernel[grid](
        x2, qweight, scales, qzeros, bias if bias is not None else scales, y,
        m, n, k, k if group_size == -1 else group_size,
        x2.stride(0), qweight.stride(0), scales.stride(0), y.stride(0),
        BITS=bits, PER=32 // bits, HAS_BIAS=bias is not None,
        BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k,
    )  # fmt: skip
    return y.reshape(*x.shape[:-1], n)
