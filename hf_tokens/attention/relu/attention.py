"""The ``hf_tokens_relu`` attention function and its contract.

ReLU attention as the active-dormant paper trains it on the Bigram-Backcopy task (its mitigation of attention sinks):
the softmax is replaced by ``ReLU(q . k * scaling)`` divided by the number of keys the row attends to, so a row's
weights need not sum to one and a head can attend to nothing without parking its attention on a sink token.
``config.relu_attention_phi = "softmax"`` runs plain softmax attention in the same code (the paper's baseline arm,
and the setting under which the function equals sdpa)::

    key = register_relu_attention()
    model = AutoModelForCausalLM.from_config(config, attn_implementation=key)   # or set_attn_implementation(key)

Deviation, named: the paper divides row ``i`` by ``i + 1`` (its sequences have no padding); here the divisor is the
number of keys the bool mask lets the row see, which is ``i + 1`` for an unpadded row and excludes a left-padded
row's pads (so a padded row equals the row alone). The weights are returned (``output_attentions=True``), as
the analysis of sink shares needs them.
"""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.attention.common import attention_function

KEY = "hf_tokens_relu"
PHIS = ("relu", "softmax")


def relu_attention_weights(scores: torch.Tensor, mask: torch.Tensor | None, phi: str = "relu") -> torch.Tensor:
    """Weights ``[B, H, q, S]`` from scaled scores and a bool mask ``[B, 1, q, S]`` (True = may attend)."""
    if phi not in PHIS:
        raise ValueError(f"phi must be one of {PHIS}, got {phi!r}")
    if mask is None:
        mask = torch.ones(1, 1, *scores.shape[-2:], dtype=torch.bool, device=scores.device)
    if phi == "softmax":
        return scores.masked_fill(~mask, float("-inf")).softmax(-1).nan_to_num(0.0)
    visible = mask.sum(-1, keepdim=True).clamp_min(1)
    return torch.relu(scores).masked_fill(~mask, 0.0) / visible


@attention_function(KEY)
def relu_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    cfg: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers attention function: returns ``([B, q, H, D], weights [B, H, q, S])`` (``run`` of
    :func:`~hf_tokens.attention.common.attention_function`; ``cfg`` is the model config)."""
    phi = getattr(cfg, "relu_attention_phi", "relu")
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    scale = query.shape[-1] ** -0.5 if scaling is None else float(scaling)
    scores = torch.matmul(query.float(), key.float().transpose(-1, -2)) * scale
    weights = relu_attention_weights(scores, mask, phi)
    return torch.matmul(weights, value.float()).to(query.dtype), weights.to(query.dtype)


def register_relu_attention() -> str:
    """Register ``hf_tokens_relu`` (function + bool mask builder) with transformers; returns the key."""
    from hf_tokens.attention.register import register_attention

    return register_attention(KEY, relu_attention, mask="bool")


def contract() -> dict[str, Any]:
    """The attention contract (tests/suites/README.md): equals sdpa with ``relu_attention_phi="softmax"``."""
    return {
        "key": register_relu_attention(),
        "fn": relu_attention,
        "mask": "bool",
        "exact_kwargs": {"relu_attention_phi": "softmax"},
        "model_kwargs": {"relu_attention_phi": "relu"},
    }
