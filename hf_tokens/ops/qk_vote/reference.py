"""Pure-PyTorch Q.K logits for one decoding query per head (the oracle and the CPU path)."""

from __future__ import annotations

import torch


def qk_logits_reference(query: torch.Tensor, keys: torch.Tensor, scale: float) -> torch.Tensor:
    batch, heads, dim = query.shape
    n_kv = keys.shape[1]
    q = query.reshape(batch, n_kv, heads // n_kv, dim)
    # keys @ q^T ([S, D] x [D, G] per head) streams the keys as the GEMM's long, row-major operand; the equivalent
    # q @ keys^T makes BLAS pack a transposed copy of the keys first, which made decode votes 2-3x slower on CPU
    logits = torch.matmul(keys.float(), q.float().transpose(-1, -2)).transpose(-1, -2)
    return (logits * scale).reshape(batch, heads, -1)
