"""Per-head Q.K soft voting (TokenSelect, arXiv 2411.02886): which cached tokens a decoding query should attend to.

``qk_vote(query, keys, scale, dead=None, impl="reference" | "triton") -> [B, S]`` returns
``sum_h softmax_S(scale * q_h . K_{g(h)})``: each query head distributes one vote over the tokens, and the votes are
summed over heads, so a token wins by being important to many heads rather than by one head's large logit.
``qk_logits`` is the dot-product op underneath (``[B, H, S]``), with a pure-PyTorch reference (``reference.py``, the
CPU path and the oracle) and a Triton kernel (``triton.py``; on CPU it runs under ``TRITON_INTERPRET=1``).
Inference only: no autograd formula is provided (inputs that require grad raise).
"""

from __future__ import annotations

from typing import Any

IMPLS = ("reference", "triton")


def qk_logits(query: Any, keys: Any, scale: float, *, impl: str = "reference") -> Any:
    """``[B, H, S]`` logits ``scale * q_h . k_s`` of one query token per head against the keys of its KV group.

    ``query`` is ``[B, H, D]``, ``keys`` ``[B, H_kv, S, D]`` with ``H % H_kv == 0`` (grouped-query attention).
    """
    _check(query, keys, impl)
    if impl == "triton":
        from hf_tokens.ops.qk_vote.triton import qk_logits_triton

        return qk_logits_triton(query, keys, scale)
    from hf_tokens.ops.qk_vote.reference import qk_logits_reference

    return qk_logits_reference(query, keys, scale)


def qk_vote(query: Any, keys: Any, scale: float, dead: Any = None, *, impl: str = "reference") -> Any:
    """``[B, S]`` float32 soft votes; ``dead`` (``[B, S]`` bool, e.g. pad tokens) get no vote."""
    import torch

    logits = qk_logits(query, keys, scale, impl=impl).float()
    if dead is not None:
        if dead.shape != (keys.shape[0], keys.shape[2]):
            raise ValueError(
                f"dead must have shape [B, S] = {(keys.shape[0], keys.shape[2])}, got {tuple(dead.shape)}"
            )
        logits = logits.masked_fill(dead[:, None, :], float("-inf"))
    return torch.softmax(logits, dim=-1).nan_to_num(0.0).sum(1)


def _check(query: Any, keys: Any, impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if query.dim() != 3 or keys.dim() != 4:
        raise ValueError(
            f"query must be [B, H, D] and keys [B, H_kv, S, D], got {tuple(query.shape)}, {tuple(keys.shape)}"
        )
    if query.shape[0] != keys.shape[0] or query.shape[-1] != keys.shape[-1] or query.shape[1] % keys.shape[1]:
        raise ValueError(
            f"query {tuple(query.shape)} and keys {tuple(keys.shape)} disagree: need the same batch and head_dim, "
            "and query heads a multiple of key heads"
        )
    if query.requires_grad or keys.requires_grad:
        raise ValueError("qk_logits is inference-only; call it under torch.no_grad() or on detached tensors")
