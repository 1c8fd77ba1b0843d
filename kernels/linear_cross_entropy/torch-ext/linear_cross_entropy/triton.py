# Generated from hf_tokens (triton.py) by export_kernel; do not edit.
"""Triton Cut Cross-Entropy kernels: fused matmul + online log-sum-exp forward, filtered fused backward.

The kernel design of Wijmans et al. (2024, arXiv:2411.09009), with the same maths as ``reference.py``:

* Forward (``_cce_forward_kernel``): each program owns a block of tokens and a contiguous slice of the vocabulary;
  it computes ``[BLOCK_N x BLOCK_V]`` logit tiles in on-chip memory (``tl.dot`` over ``BLOCK_D`` slices of the
  hidden size), reduces them with an online log-sum-exp (running max, sum of exponentials and, for the entropy,
  the sum of ``exp(z - m) (z - m)``) and picks the target logit out of the tile when it falls inside (the indexed
  matmul). Only ``O(tokens x vocabulary splits)`` statistics reach global memory.
* Backward (``_cce_backward_kernel``): one program per ``[BLOCK_N x BLOCK_V]`` tile recomputes the logits, forms
  ``dL/dz = g_logp (onehot - p) - g_entropy p (log p + H)`` and, unless every entry of the tile's unit gradient
  (``|p - onehot|`` and ``|p (log p + H)|``) is below ``filter_eps``, multiplies it into ``dE = dz @ C`` and
  ``dC = dz^T @ E`` with atomic adds. ``filter_eps="auto"`` is ``finfo(dtype).eps / 32`` = 2**-12 for bf16: the
  paper's gradient filtering of softmax entries below numerical precision.

Deviations from the paper: the forward splits the vocabulary across programs and merges the per-split statistics
in PyTorch (a split-K "flash-decoding" reduction, ``O(N x splits)`` floats) instead of locking a shared
log-sum-exp; the paper's vocabulary sorting is not done; block sizes are fixed per dtype instead of autotuned (the
interpreter cannot autotune without a GPU driver); ``dE``/``dC`` accumulate in float32 buffers and are cast to the
input dtype at the end; float32 inputs use IEEE ``tl.dot`` (torch's default, no TF32) unless
``torch.backends.cuda.matmul.allow_tf32`` is set.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import triton
import triton.language as tl

from ._triton_utils import interpreter_enabled


@triton.jit
def _tanh(x):
    # tanh through exp: tl has no portable tanh across the GPU backends and the interpreter.
    return 1.0 - 2.0 / (tl.exp(2.0 * x) + 1.0)


@triton.jit
def _dot(a, b, acc, IEEE: tl.constexpr, UPCAST: tl.constexpr):
    """``acc + a @ b`` in float32. ``UPCAST``: the interpreter's bf16/fp16 ``tl.dot`` is wrong, so cast first."""
    if UPCAST:
        a = a.to(tl.float32)
        b = b.to(tl.float32)
    if IEEE:
        return tl.dot(a, b, acc, input_precision="ieee")
    return tl.dot(a, b, acc)


@triton.jit
def _logit_tile(
    E,
    C,
    Bias,
    offs_n,
    offs_v,
    mask_n,
    mask_v,
    D,
    stride_en,
    stride_ed,
    stride_cv,
    stride_cd,
    softcap,
    inv_temp,
    HAS_BIAS: tl.constexpr,
    HAS_SOFTCAP: tl.constexpr,
    IEEE: tl.constexpr,
    UPCAST: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """``z = softcap * tanh((E C^T + b) / softcap) * inv_temp`` for one tile, float32, masked entries -inf."""
    acc = tl.zeros((BLOCK_N, BLOCK_V), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        offs_d = d0 + tl.arange(0, BLOCK_D)
        mask_d = offs_d < D
        e = tl.load(
            E + offs_n[:, None] * stride_en + offs_d[None, :] * stride_ed,
            mask=mask_n[:, None] & mask_d[None, :],
            other=0.0,
        )
        c = tl.load(
            C + offs_v[None, :] * stride_cv + offs_d[:, None] * stride_cd,
            mask=mask_v[None, :] & mask_d[:, None],
            other=0.0,
        )
        acc = _dot(e, c, acc, IEEE, UPCAST)
    if HAS_BIAS:
        acc += tl.load(Bias + offs_v, mask=mask_v, other=0.0).to(tl.float32)[None, :]
    if HAS_SOFTCAP:
        acc = _tanh(acc / softcap) * softcap
    acc = acc * inv_temp
    return tl.where(mask_v[None, :], acc, float("-inf"))


@triton.jit
def _cce_forward_kernel(
    E,
    C,
    Bias,
    Targets,
    M_out,
    S_out,
    U_out,
    TL_out,
    N,
    V,
    D,
    stride_en,
    stride_ed,
    stride_cv,
    stride_cd,
    softcap,
    inv_temp,
    v_per_split,
    HAS_BIAS: tl.constexpr,
    HAS_SOFTCAP: tl.constexpr,
    HAS_TARGETS: tl.constexpr,
    IEEE: tl.constexpr,
    UPCAST: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    pid_n = tl.program_id(0)
    pid_s = tl.program_id(1)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mask_n = offs_n < N
    m = tl.full((BLOCK_N,), float("-inf"), dtype=tl.float32)
    s = tl.zeros((BLOCK_N,), dtype=tl.float32)
    u = tl.zeros((BLOCK_N,), dtype=tl.float32)
    target_logit = tl.zeros((BLOCK_N,), dtype=tl.float32)
    if HAS_TARGETS:
        tgt = tl.load(Targets + offs_n, mask=mask_n, other=-1)
    v_start = pid_s * v_per_split
    v_stop = tl.minimum(v_start + v_per_split, V)
    for v0 in range(v_start, v_stop, BLOCK_V):
        offs_v = v0 + tl.arange(0, BLOCK_V)
        mask_v = offs_v < v_stop
        z = _logit_tile(
            E, C, Bias, offs_n, offs_v, mask_n, mask_v, D, stride_en, stride_ed, stride_cv, stride_cd,
            softcap, inv_temp, HAS_BIAS, HAS_SOFTCAP, IEEE, UPCAST, BLOCK_N, BLOCK_V, BLOCK_D,
        )  # fmt: skip
        m_new = tl.maximum(m, tl.max(z, 1))
        delta = tl.where(m == float("-inf"), 0.0, m - m_new)
        scale = tl.exp(m - m_new)
        u = scale * (u + delta * s)
        s = s * scale
        ex = tl.exp(z - m_new[:, None])  # 0 at masked columns (z = -inf)
        shifted = tl.where(mask_v[None, :], z - m_new[:, None], 0.0)
        s += tl.sum(ex, 1)
        u += tl.sum(ex * shifted, 1)
        m = m_new
        if HAS_TARGETS:
            hit = offs_v[None, :] == tgt[:, None]
            target_logit += tl.sum(tl.where(hit, z, 0.0), 1)
    out = pid_s * N + offs_n
    tl.store(M_out + out, m, mask=mask_n)
    tl.store(S_out + out, s, mask=mask_n)
    tl.store(U_out + out, u, mask=mask_n)
    tl.store(TL_out + out, target_logit, mask=mask_n)


@triton.jit
def _cce_backward_kernel(
    E,
    C,
    Bias,
    Targets,
    LSE,
    ENT,
    GradLogp,
    GradEnt,
    dE,
    dC,
    dBias,
    N,
    V,
    D,
    stride_en,
    stride_ed,
    stride_cv,
    stride_cd,
    softcap,
    inv_temp,
    filter_eps,
    HAS_BIAS: tl.constexpr,
    HAS_SOFTCAP: tl.constexpr,
    HAS_GLP: tl.constexpr,
    HAS_GENT: tl.constexpr,
    FILTER: tl.constexpr,
    NEED_DE: tl.constexpr,
    NEED_DC: tl.constexpr,
    NEED_DB: tl.constexpr,
    IEEE: tl.constexpr,
    UPCAST: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_V: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    pid_n = tl.program_id(0)
    pid_v = tl.program_id(1)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_v = pid_v * BLOCK_V + tl.arange(0, BLOCK_V)
    mask_n = offs_n < N
    mask_v = offs_v < V
    mask = mask_n[:, None] & mask_v[None, :]
    z = _logit_tile(
        E, C, Bias, offs_n, offs_v, mask_n, mask_v, D, stride_en, stride_ed, stride_cv, stride_cd,
        softcap, inv_temp, HAS_BIAS, HAS_SOFTCAP, IEEE, UPCAST, BLOCK_N, BLOCK_V, BLOCK_D,
    )  # fmt: skip
    lse = tl.load(LSE + offs_n, mask=mask_n, other=0.0)
    logp = tl.where(mask, z - lse[:, None], 0.0)
    p = tl.where(mask, tl.exp(logp), 0.0)
    grad = tl.zeros((BLOCK_N, BLOCK_V), dtype=tl.float32)
    unit_max = 0.0
    if HAS_GLP:
        tgt = tl.load(Targets + offs_n, mask=mask_n, other=-1)
        onehot = tl.where((offs_v[None, :] == tgt[:, None]) & mask, 1.0, 0.0)
        g_lp = tl.load(GradLogp + offs_n, mask=mask_n, other=0.0)
        grad += g_lp[:, None] * (onehot - p)
        if FILTER:
            unit_max = tl.maximum(unit_max, tl.max(tl.max(tl.abs(p - onehot), 1), 0))
    if HAS_GENT:
        ent = tl.load(ENT + offs_n, mask=mask_n, other=0.0)
        ent_unit = tl.where(mask, p * (logp + ent[:, None]), 0.0)
        g_ent = tl.load(GradEnt + offs_n, mask=mask_n, other=0.0)
        grad -= g_ent[:, None] * ent_unit
        if FILTER:
            unit_max = tl.maximum(unit_max, tl.max(tl.max(tl.abs(ent_unit), 1), 0))
    if FILTER:  # noqa: SIM102 (a constexpr guard; `and` with a tensor does not compile)
        if unit_max < filter_eps:
            return
    grad = grad * inv_temp
    if HAS_SOFTCAP:
        t = z / (softcap * inv_temp)
        grad = grad * tl.where(mask, 1.0 - t * t, 0.0)
    if NEED_DB:
        tl.atomic_add(dBias + offs_v, tl.sum(grad, 0), mask=mask_v)
    grad_in = grad.to(E.dtype.element_ty)
    for d0 in range(0, D, BLOCK_D):
        offs_d = d0 + tl.arange(0, BLOCK_D)
        mask_d = offs_d < D
        if NEED_DE:
            c = tl.load(
                C + offs_v[:, None] * stride_cv + offs_d[None, :] * stride_cd,
                mask=mask_v[:, None] & mask_d[None, :],
                other=0.0,
            )
            de = _dot(grad_in, c, tl.zeros((BLOCK_N, BLOCK_D), dtype=tl.float32), IEEE, UPCAST)
            tl.atomic_add(dE + offs_n[:, None] * D + offs_d[None, :], de, mask=mask_n[:, None] & mask_d[None, :])
        if NEED_DC:
            e = tl.load(
                E + offs_n[:, None] * stride_en + offs_d[None, :] * stride_ed,
                mask=mask_n[:, None] & mask_d[None, :],
                other=0.0,
            )
            dc = _dot(tl.trans(grad_in), e, tl.zeros((BLOCK_V, BLOCK_D), dtype=tl.float32), IEEE, UPCAST)
            tl.atomic_add(dC + offs_v[:, None] * D + offs_d[None, :], dc, mask=mask_v[:, None] & mask_d[None, :])


def _blocks(dtype: torch.dtype, d: int) -> tuple[int, int, int]:
    """(BLOCK_N, BLOCK_V, BLOCK_D): 64 x 128 tiles, 32- or 64-wide hidden slices (smaller for tiny hidden sizes)."""
    block_d = 64 if dtype != torch.float32 else 32
    block_d = max(16, min(block_d, triton.next_power_of_2(d)))
    return 64, 128, block_d


def _ieee(dtype: torch.dtype) -> bool:
    return dtype == torch.float32 and not torch.backends.cuda.matmul.allow_tf32


def _upcast(hidden: torch.Tensor) -> bool:
    return not hidden.is_cuda and hidden.dtype != torch.float32


def _num_splits(n_blocks: int, v_blocks: int, device: torch.device, splits: int | None) -> int:
    if splits is not None:
        return max(1, min(splits, v_blocks))
    if device.type == "cuda":
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        return max(1, min(v_blocks, math.ceil(4 * sms / max(n_blocks, 1))))
    return min(v_blocks, 2)  # the interpreter: two splits still exercise the merge


def forward_stats(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor | None,
    softcap: float | None,
    temperature: float,
    splits: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(lse, entropy, target_logit)`` float32 per token, like ``reference.forward_stats``."""
    n, d = hidden.shape
    vocab = weight.shape[0]
    bn, bv, bd = _blocks(hidden.dtype, d)
    n_blocks, v_blocks = triton.cdiv(n, bn), triton.cdiv(vocab, bv)
    k = _num_splits(n_blocks, v_blocks, hidden.device, splits)
    v_per_split = triton.cdiv(v_blocks, k) * bv
    k = triton.cdiv(vocab, v_per_split)
    stats = torch.empty(4, k, n, dtype=torch.float32, device=hidden.device)
    _cce_forward_kernel[(n_blocks, k)](
        hidden, weight, weight if bias is None else bias, targets if targets is not None else hidden,
        stats[0], stats[1], stats[2], stats[3], n, vocab, d,
        hidden.stride(0), hidden.stride(1), weight.stride(0), weight.stride(1),
        1.0 if softcap is None else softcap, 1.0 / temperature, v_per_split,
        HAS_BIAS=bias is not None, HAS_SOFTCAP=softcap is not None, HAS_TARGETS=targets is not None,
        IEEE=_ieee(hidden.dtype), UPCAST=_upcast(hidden), BLOCK_N=bn, BLOCK_V=bv, BLOCK_D=bd,
    )  # fmt: skip
    m, s, u, tl_parts = stats
    big_m = m.amax(0)
    w = torch.exp(m - big_m)
    total_s = (s * w).sum(0)
    total_u = (w * (u + (m - big_m) * s)).sum(0)
    log_s = torch.log(total_s)
    return big_m + log_s, log_s - total_u / total_s, tl_parts.sum(0)


def backward_grads(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor | None,
    lse: torch.Tensor,
    entropy: torch.Tensor,
    grad_logp: torch.Tensor | None,
    grad_entropy: torch.Tensor | None,
    softcap: float | None,
    temperature: float,
    filter_eps: float | None,
    needs: tuple[bool, bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    n, d = hidden.shape
    vocab = weight.shape[0]
    need_h, need_w, need_b = needs
    bn, bv, bd = _blocks(hidden.dtype, d)
    dev = hidden.device
    d_e = torch.zeros(n, d, dtype=torch.float32, device=dev) if need_h else lse
    d_c = torch.zeros(vocab, d, dtype=torch.float32, device=dev) if need_w else lse
    d_b = torch.zeros(vocab, dtype=torch.float32, device=dev) if need_b else lse
    grid = (triton.cdiv(n, bn), triton.cdiv(vocab, bv))
    _cce_backward_kernel[grid](
        hidden, weight, weight if bias is None else bias, targets if targets is not None else lse,
        lse, entropy, grad_logp if grad_logp is not None else lse, grad_entropy if grad_entropy is not None else lse,
        d_e, d_c, d_b, n, vocab, d,
        hidden.stride(0), hidden.stride(1), weight.stride(0), weight.stride(1),
        1.0 if softcap is None else softcap, 1.0 / temperature, 0.0 if filter_eps is None else filter_eps,
        HAS_BIAS=bias is not None, HAS_SOFTCAP=softcap is not None,
        HAS_GLP=grad_logp is not None and targets is not None, HAS_GENT=grad_entropy is not None,
        FILTER=filter_eps is not None, NEED_DE=need_h, NEED_DC=need_w, NEED_DB=need_b,
        IEEE=_ieee(hidden.dtype), UPCAST=_upcast(hidden), BLOCK_N=bn, BLOCK_V=bv, BLOCK_D=bd,
    )  # fmt: skip
    return (
        d_e.to(hidden.dtype) if need_h else None,
        d_c.to(weight.dtype) if need_w else None,
        d_b.to(bias.dtype) if need_b and bias is not None else None,
    )


class TritonLinearSoftmaxStats(torch.autograd.Function):
    """Triton twin of ``reference.LinearSoftmaxStats``: ``(logp [N], entropy [N])``, float32."""

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor | None,
        softcap: float | None,
        temperature: float,
        filter_eps: float | None,
        splits: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lse, entropy, target_logit = forward_stats(hidden, weight, bias, targets, softcap, temperature, splits)
        logp = target_logit - lse if targets is not None else torch.zeros_like(lse)
        ctx.save_for_backward(hidden, weight, bias, targets, lse, entropy)
        ctx.cfg = (softcap, temperature, filter_eps)
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(*(() if targets is not None else (logp,)))
        return logp, entropy

    @staticmethod
    def backward(ctx: Any, grad_logp: torch.Tensor | None, grad_entropy: torch.Tensor | None) -> tuple:
        hidden, weight, bias, targets, lse, entropy = ctx.saved_tensors
        softcap, temperature, filter_eps = ctx.cfg
        if targets is None:
            grad_logp = None
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        if (grad_logp is None and grad_entropy is None) or not (need_h or need_w or need_b) or hidden.shape[0] == 0:
            return (None,) * 8
        gl = None if grad_logp is None else grad_logp.float().contiguous()
        ge = None if grad_entropy is None else grad_entropy.float().contiguous()
        gh, gw, gb = backward_grads(
            hidden, weight, bias, targets, lse, entropy, gl, ge, softcap, temperature, filter_eps,
            (need_h, need_w, need_b and bias is not None),
        )  # fmt: skip
        return gh, gw, gb, None, None, None, None, None


def linear_softmax_stats(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    targets: torch.Tensor | None,
    *,
    softcap: float | None = None,
    temperature: float = 1.0,
    filter_eps: float | None = None,
    splits: int | None = None,
    with_entropy: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated-input entry of the Triton path (CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``).

    The kernel always reduces the entropy's running sum (free next to the matmul on a GPU); ``with_entropy`` is
    accepted for the reference's signature.
    """
    if not hidden.is_cuda and not interpreter_enabled():
        raise ValueError("the Triton path needs CUDA tensors or TRITON_INTERPRET=1 (set before this module loads)")
    if hidden.shape[0] == 0:
        zero = (hidden.sum() * 0 + weight.sum() * 0).float()
        empty = zero.expand(0)
        return empty, empty
    if targets is not None:
        targets = targets.contiguous()
    with torch.autocast(hidden.device.type, enabled=False):
        out: tuple[torch.Tensor, torch.Tensor] = TritonLinearSoftmaxStats.apply(
            hidden, weight, bias, targets, softcap, float(temperature), filter_eps, splits
        )
    return out
