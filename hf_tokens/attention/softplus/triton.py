"""Triton forward kernel of softplus attention (LSSA) with optional re-weighting (LSSAR); inference only.

One program per (block of ``BLOCK_M`` query rows, batch x head). It streams the keys of its KV head (grouped-query
heads read ``h // group`` in place, nothing repeated) in ``BLOCK_N`` tiles, twice:

1. row statistics: the number of visible keys ``N_i`` (from the mask), the largest scaled logit ``m_i`` and the l1
   normaliser ``Z_i = sum_j phi(x_ij)`` (for ``phi = exp`` shifted by the running max, as online softmax does);
2. weights ``a_ij = phi(x_ij) / Z_i``, re-weighted to ``(ReLU(N_i a_ij - O_i) / r_i) ** p`` when the row is
   re-weighted (``r_i`` the row's largest shifted weight, known from pass 1 since ``phi`` is increasing), and the
   output ``sum_j w_ij v_j / sum_j w_ij``.

The ``[q, S]`` weights are never materialised. ``mask`` is an int8 ``[B, q, S]`` tensor (1 = may attend); on CPU the
kernel runs only under ``TRITON_INTERPRET=1``. No backward: training uses the PyTorch reference.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from hf_tokens.attention.triton_common import launch_operands, query_tile


@triton.jit
def _phi(x, m, IS_EXP: tl.constexpr):
    if IS_EXP:
        return tl.exp(x - m)
    return tl.maximum(x, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(x)))


@triton.jit
def _scaled_logits(
    q, k_ptrs, mask_ptrs, offs_n, n_start, seq_len, qk_scale, log_d, counts, d_mask,
    LENGTH_SCALE: tl.constexpr, QK_NORM: tl.constexpr,
):  # fmt: skip
    inside = (n_start + offs_n) < seq_len
    k = tl.load(k_ptrs, mask=inside[:, None] & d_mask[None, :], other=0.0).to(tl.float32)
    if QK_NORM:
        k = k / tl.maximum(tl.sqrt(tl.sum(k * k, axis=1)), 1e-12)[:, None]
    x = tl.dot(q, tl.trans(k), input_precision="ieee")
    if LENGTH_SCALE:
        x = x * (log_d * tl.log(tl.maximum(counts, 1.0)))[:, None]
    else:
        x = x * qk_scale
    visible = tl.load(mask_ptrs, mask=inside[None, :], other=0) != 0
    return x, visible


@triton.jit
def _softplus_attention_kernel(
    q_ptr, k_ptr, v_ptr, m_ptr, o_ptr,
    seq_len, q_len, heads, group, qk_scale, log_d, power, reweight_after, offset_rows,
    s_qb, s_qh, s_qm, s_kb, s_kh, s_kn, s_vb, s_vh, s_vn, s_mb, s_mm, s_ob, s_oh, s_om,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    IS_EXP: tl.constexpr, QK_NORM: tl.constexpr, LENGTH_SCALE: tl.constexpr, REWEIGHT: tl.constexpr,
):  # fmt: skip
    _, b, h, kv, offs_m, offs_d, d_mask, row_ok, q = query_tile(
        q_ptr, s_qb, s_qh, s_qm, q_len, heads, group, HEAD_DIM, BLOCK_D, BLOCK_M
    )
    offs_n = tl.arange(0, BLOCK_N)
    if QK_NORM:
        q = q / tl.maximum(tl.sqrt(tl.sum(q * q, axis=1)), 1e-12)[:, None]
    k_base = k_ptr + b * s_kb + kv * s_kh + offs_n[:, None] * s_kn + offs_d[None, :]
    v_base = v_ptr + b * s_vb + kv * s_vh + offs_n[:, None] * s_vn + offs_d[None, :]
    m_base = m_ptr + b * s_mb + offs_m[:, None] * s_mm + offs_n[None, :]
    row_m = row_ok[:, None]

    # pass 0: N_i, the number of visible keys (the length scale of pass 1 needs it)
    counts = tl.zeros([BLOCK_M], dtype=tl.float32)
    for n_start in range(0, seq_len, BLOCK_N):
        inside = (n_start + offs_n) < seq_len
        vis = tl.load(m_base + n_start, mask=row_m & inside[None, :], other=0) != 0
        counts += tl.sum(vis.to(tl.float32), axis=1)

    # pass 1: the row max of the scaled logits and the l1 normaliser
    big_neg = -1.0e30
    row_max = tl.full([BLOCK_M], big_neg, dtype=tl.float32)
    norm = tl.zeros([BLOCK_M], dtype=tl.float32)
    for n_start in range(0, seq_len, BLOCK_N):
        x, vis = _scaled_logits(
            q, k_base + n_start * s_kn, m_base + n_start, offs_n, n_start, seq_len, qk_scale, log_d, counts, d_mask,
            LENGTH_SCALE, QK_NORM,
        )  # fmt: skip
        vis = vis & row_m
        x = tl.where(vis, x, big_neg)  # hidden keys: phi(x) stays finite and is dropped below
        new_max = tl.maximum(row_max, tl.max(tl.where(vis, x, big_neg), axis=1))
        if IS_EXP:
            norm = norm * tl.exp(row_max - new_max)
        norm += tl.sum(tl.where(vis, _phi(x, new_max[:, None], IS_EXP), 0.0), axis=1)
        row_max = new_max
    norm = tl.maximum(norm, 1e-30)

    # the re-weighting of each row: its offset O_i and its largest shifted weight r_i
    offset = tl.where(counts > offset_rows, 1.0, 0.0)
    peak = tl.maximum(counts * _phi(row_max, row_max, IS_EXP) / norm - offset, 0.0)
    use_rw = (counts > reweight_after) & (peak > 0.0)

    # pass 2: weights and output
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)
    total = tl.zeros([BLOCK_M], dtype=tl.float32)
    for n_start in range(0, seq_len, BLOCK_N):
        x, vis = _scaled_logits(
            q, k_base + n_start * s_kn, m_base + n_start, offs_n, n_start, seq_len, qk_scale, log_d, counts, d_mask,
            LENGTH_SCALE, QK_NORM,
        )  # fmt: skip
        vis = vis & row_m
        x = tl.where(vis, x, big_neg)
        w = _phi(x, row_max[:, None], IS_EXP) / norm[:, None]
        if REWEIGHT:
            shifted = tl.maximum(w * counts[:, None] - offset[:, None], 0.0) / tl.maximum(peak, 1e-30)[:, None]
            sharp = tl.where(shifted > 0.0, tl.exp2(power * tl.log2(tl.maximum(shifted, 1e-30))), 0.0)
            w = tl.where(use_rw[:, None], sharp, w)
        w = tl.where(vis, w, 0.0)
        inside = (n_start + offs_n) < seq_len
        v = tl.load(v_base + n_start * s_vn, mask=inside[:, None] & d_mask[None, :], other=0.0).to(tl.float32)
        acc += tl.dot(w, v, input_precision="ieee")
        total += tl.sum(w, axis=1)
    out = acc / tl.maximum(total, 1e-30)[:, None]
    o_ptrs = o_ptr + b * s_ob + h * s_oh + offs_m[:, None] * s_om + offs_d[None, :]
    tl.store(o_ptrs, out.to(o_ptr.dtype.element_ty), mask=row_m & d_mask[None, :])


def softplus_attention_triton(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    scaling: float,
    phi: str = "softplus",
    qk_norm: bool = True,
    length_scale: bool = True,
    reweight_power: float = 0.0,
    reweight_after: int = 0,
    offset_rows: int = 3,
    block_m: int = 16,
    block_n: int = 16,
) -> torch.Tensor:
    """Same contract as :func:`~hf_tokens.attention.softplus.reference.softplus_attention_reference`."""
    query, key, value, mask8, out, grid = launch_operands(
        query, key, value, mask, kernel="softplus-attention", train_impl="reference", block_m=block_m
    )
    heads, q_len, dim = query.shape[1:]
    n_kv, seq_len = key.shape[1], key.shape[2]
    _softplus_attention_kernel[grid](
        query, key, value, mask8, out,
        seq_len, q_len, heads, heads // n_kv, float(scaling), math.log(dim), float(reweight_power),
        int(reweight_after), int(offset_rows),
        query.stride(0), query.stride(1), query.stride(2),
        key.stride(0), key.stride(1), key.stride(2),
        value.stride(0), value.stride(1), value.stride(2),
        mask8.stride(0), mask8.stride(1),
        out.stride(0), out.stride(1), out.stride(2),
        HEAD_DIM=dim, BLOCK_D=max(16, triton.next_power_of_2(dim)), BLOCK_M=block_m, BLOCK_N=block_n,
        IS_EXP=phi == "exp", QK_NORM=qk_norm, LENGTH_SCALE=length_scale, REWEIGHT=reweight_power > 0,
    )  # fmt: skip
    return out
