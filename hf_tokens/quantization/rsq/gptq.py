"""GPTQ (Frantar et al., arXiv 2210.17323) and round-to-nearest, on one weight matrix.

:func:`gptq` quantizes the columns of ``W [N, K]`` one at a time and spreads each column's rounding error over the
columns not yet quantized through the inverse Hessian's Cholesky factor (lazy updates in blocks of ``block_size``
columns), minimising ``||X W^T - X Q^T||^2`` for the calibration inputs ``X`` whose second moment is ``H``. RSQ
changes only ``H`` (importance-weighted tokens, :func:`accumulate_hessian`).

Grid parameters (min-max, or with ``clip_search`` the error-minimising shrink of GPTQ's ``mse`` option, see
:func:`~.packing.grid_params`): per channel from the whole (dead-column-zeroed) row; with groups, each group's grid
is fitted when its first column is reached, on the columns as updated so far (GPTQ's default). With ``act_order``
the columns go in order of decreasing Hessian diagonal and the groups' grids are fitted up front on the original
weights (GPTQ's ``static_groups``), so the groups stay contiguous in storage and no column permutation is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hf_tokens.quantization.rsq.packing import dequantize_codes, grid_params, num_groups, quantize_codes


@dataclass
class QuantizedWeight:
    """Codes ``[N, K]`` (float, integer-valued) and the per-group grids ``scales``/``zeros`` ``[N, G]``."""

    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor

    def dequantize(self, group_size: int) -> torch.Tensor:
        k = self.codes.shape[1]
        index = torch.zeros(k, dtype=torch.long) if group_size == -1 else torch.arange(k) // group_size
        return (self.codes - self.zeros[:, index]) * self.scales[:, index]


def accumulate_hessian(
    hessian: torch.Tensor, inputs: torch.Tensor, importance: torch.Tensor | None = None
) -> torch.Tensor:
    """``hessian += 2 X^T diag(r) X`` for the tokens ``X [T, K]`` of one sequence, ``r`` the importance normalised
    to mean 1 over the sequence (RSQ's scaling: each token's feature times ``sqrt(r)``); ``None`` = uniform."""
    x = inputs.reshape(-1, inputs.shape[-1]).float()
    if importance is not None:
        r = importance.reshape(-1).float()
        x = x * (r / r.mean()).sqrt()[:, None]
    return hessian.addmm_(x.t(), x, alpha=2.0)


def rtn(weight: torch.Tensor, bits: int, group_size: int, sym: bool, clip_search: bool = False) -> QuantizedWeight:
    """Round-to-nearest on the grid of each row (group) (:func:`~.packing.grid_params`)."""
    w = weight.float()
    n, k = w.shape
    scales = torch.empty(n, num_groups(k, group_size))
    zeros = torch.empty_like(scales)
    codes = torch.empty_like(w)
    size = k if group_size == -1 else group_size
    for g, start in enumerate(range(0, k, size)):
        block = w[:, start : start + size]
        scales[:, g], zeros[:, g] = grid_params(block, bits, sym, clip_search)
        codes[:, start : start + size] = quantize_codes(block, scales[:, g], zeros[:, g], bits)
    return QuantizedWeight(codes, scales, zeros)


def gptq(
    weight: torch.Tensor,
    hessian: torch.Tensor,
    *,
    bits: int,
    group_size: int,
    sym: bool,
    damp: float = 0.01,
    block_size: int = 128,
    act_order: bool = False,
    clip_search: bool = False,
) -> QuantizedWeight:
    """GPTQ of ``weight [N, K]`` given ``hessian [K, K]`` (see the module docstring)."""
    w = weight.detach().float().clone()
    h = hessian.detach().float().clone()
    n, k = w.shape
    if h.shape != (k, k):
        raise ValueError(f"hessian must be [{k}, {k}] for a weight with {k} input columns, got {tuple(h.shape)}")
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    groups = num_groups(k, group_size)
    scales = torch.empty(n, groups)
    zeros = torch.empty_like(scales)
    if group_size == -1:
        scales[:, 0], zeros[:, 0] = grid_params(w, bits, sym, clip_search)
    elif act_order:  # static groups: every group's grid from the original weights
        for g in range(groups):
            block = w[:, g * group_size : (g + 1) * group_size]
            scales[:, g], zeros[:, g] = grid_params(block, bits, sym, clip_search)
    perm = torch.argsort(torch.diag(h), descending=True) if act_order else torch.arange(k)
    w, h = w[:, perm], h[perm][:, perm]
    h.diagonal().add_(damp * torch.mean(torch.diag(h)))
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    codes = torch.zeros(n, k)
    for i1 in range(0, k, block_size):
        i2 = min(i1 + block_size, k)
        w1 = w[:, i1:i2].clone()
        err1 = torch.zeros_like(w1)
        hinv1 = hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col = int(perm[i1 + i])
            g = 0 if group_size == -1 else col // group_size
            if group_size != -1 and not act_order and col % group_size == 0:
                upcoming = torch.cat([w1[:, i:], w[:, i2:]], dim=1)[:, :group_size]
                scales[:, g], zeros[:, g] = grid_params(upcoming, bits, sym, clip_search)
            column = w1[:, i]
            q = quantize_codes(column, scales[:, g], zeros[:, g], bits)
            codes[:, col] = q
            err = (column - dequantize_codes(q, scales[:, g], zeros[:, g])) / hinv1[i, i]
            w1[:, i:] -= err[:, None] * hinv1[i, i:][None, :]
            err1[:, i] = err
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return QuantizedWeight(codes, scales, zeros)
