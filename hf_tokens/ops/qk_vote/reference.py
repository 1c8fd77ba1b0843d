"""Pure-PyTorch Q.K logits for one decoding query per head (the oracle and the CPU path)."""

from __future__ import annotations

import torch


def qk_logits_reference(query: torch.Tensor, keys: torch.Tensor, scale: float) -> torch.Tensor:
    batch, heads, dim = query.shape
    n_kv = keys.shape[1]
    q = query.reshape(batch, n_kv, heads // n_kv, dim)
    return (torch.einsum("bhgd,bhsd->bhgs", q.float(), keys.float()) * scale).reshape(batch, heads, -1)
