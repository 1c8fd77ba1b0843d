"""Contract of the ``ops`` suite (tests/suites/README.md) for ``cut-cross-entropy``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from hf_tokens.ops.linear_cross_entropy.api import linear_cross_entropy

# (rtol, atol) of loss and input gradients against the float32 materialised oracle.
TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.bfloat16: (2e-2, 2e-2), torch.float16: (1e-2, 1e-2)}


def make_inputs(dtype: torch.dtype, seed: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """An odd-shaped batch: 2 x 9 tokens, hidden 24, vocab 157 (not a power of two), some ignored labels."""
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(2, 9, 24, generator=gen).to(dtype).requires_grad_(True)
    weight = (torch.randn(157, 24, generator=gen) / 3).to(dtype).requires_grad_(True)
    labels = torch.randint(0, 157, (2, 9), generator=gen)
    labels[0, 2] = labels[1, 7] = -100
    return (hidden, weight, labels), {"reduction": "mean"}


def naive(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    softcap: float | None = None,
    shift: bool = False,
    **_: Any,
) -> torch.Tensor:
    """The materialised oracle: float32 logits, then ``F.cross_entropy``."""
    if shift:
        hidden, labels = hidden[..., :-1, :], labels[..., 1:]
    logits = hidden.float() @ weight.float().T
    if bias is not None:
        logits = logits + bias.float()
    if softcap is not None:
        logits = softcap * torch.tanh(logits / softcap)
    flat = logits.reshape(-1, logits.shape[-1])
    out = F.cross_entropy(flat, labels.reshape(-1), ignore_index=ignore_index, reduction=reduction)
    return out.reshape(labels.shape) if reduction == "none" else out


def contract() -> dict[str, Any]:
    return {
        "fn": linear_cross_entropy,
        "impls": ("reference", "triton"),
        "make_inputs": make_inputs,
        "naive": naive,
        "tolerances": TOLERANCES,
    }
