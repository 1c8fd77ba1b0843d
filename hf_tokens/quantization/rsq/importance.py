"""Token importance of RSQ's "scale" step: one weight per calibration token, per decoder layer.

* ``attention_concentration`` (the paper's choice): the attention each token *receives* in the layer, summed over
  heads and query positions. The layer's own sdpa call is observed with :func:`hf_tokens.attention.observe_keys`
  (the keys the layer stores are routed through a handler that sums the probability columns in bounded row
  chunks and then runs the real sdpa), so no attention code is re-implemented.
* ``activation_norm``: the L2 norm of the token's input feature (a heuristic the paper compares).
* ``first_tokens``: a positional heuristic: the leading ``first_tokens`` fraction gets ``importance_max``.
* ``uniform``: no scaling (``None``): RSQ reduces to rotation + GPTQ.

Scores are min-max scaled to ``[importance_min, importance_max]`` (the official code's normalisation; a constant
score maps to ``importance_min``). :func:`~.gptq.accumulate_hessian` normalises them to mean 1 per sequence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from hf_tokens.attention.hooks import AttentionCall, observe_keys


def min_max(scores: torch.Tensor, low: float, high: float) -> torch.Tensor:
    lo, hi = scores.min(), scores.max()
    if hi <= lo:
        return torch.full_like(scores, low)
    return (scores - lo) / (hi - lo) * (high - low) + low


class AttentionObserver:
    """Passed as the decoder layer's ``cache``: the keys it returns report the column sums of the attention
    probabilities of the sdpa call they enter (``received``, ``[B, S]`` float32, summed over heads and queries)."""

    def __init__(self) -> None:
        self.received: torch.Tensor | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kw: Any):
        return observe_keys(key_states, self._handle, query_len=key_states.shape[2]), value_states

    def _handle(self, call: AttentionCall) -> Any:
        total = None
        for rows in call.row_chunks():
            part = call.probs(rows).sum(dim=(1, 2, 3))  # [B, S]
            total = part if total is None else total + part
        self.received = total
        return call.run()


def token_importance(
    kind: str,
    layer_input: torch.Tensor,
    run_layer: Callable[[Any], Any],
    *,
    low: float,
    high: float,
    first_fraction: float = 0.5,
) -> torch.Tensor | None:
    """Importance ``[T]`` of the tokens of one sequence ``layer_input [1, T, D]``; ``run_layer(cache)`` runs the
    layer (full precision) with ``cache`` as its cache. ``None`` for uniform."""
    if kind == "uniform":
        return None
    tokens = layer_input.shape[1]
    if kind == "attention_concentration":
        observer = AttentionObserver()
        run_layer(observer)
        if observer.received is None:
            raise RuntimeError(
                "attention_concentration saw no sdpa call: the model must use attn_implementation='sdpa'"
            )
        scores = observer.received.mean(dim=0)
    elif kind == "activation_norm":
        scores = layer_input.float().norm(dim=-1).mean(dim=0)
    elif kind == "first_tokens":
        scores = torch.zeros(tokens, device=layer_input.device)
        scores[: max(1, round(first_fraction * tokens))] = 1.0
    else:
        raise ValueError(f"unknown importance {kind!r}")
    return min_max(scores.float(), low, high)
