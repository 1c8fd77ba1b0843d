"""The ``hf_tokens_landmark`` attention function, its op (``impl="reference" | "triton"``) and its contract.

``landmark_attention`` has transformers' attention signature and reads its settings from ``module.config``
(:class:`~hf_tokens.attention.landmark.config.LandmarkAttentionConfig`, the ``landmark_*`` attributes)::

    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="hf_tokens_landmark",
                                                 landmark_block_size=31, landmark_top_k=2)

The block layout comes from positions, not token ids: the data must carry a landmark token after every
``block_size`` regular tokens (:func:`~hf_tokens.attention.landmark.data.insert_landmarks`). Positions are counted
over each row's real keys (the last row of the bool mask), so left padding and cached decoding keep the layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from hf_tokens.attention.common import attention_function, attention_scale, kernel_test_inputs
from hf_tokens.attention.landmark.config import IMPLS, LandmarkAttentionConfig

KEY = "hf_tokens_landmark"


def landmark_attention_op(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    block_size: int,
    top_k: int = 0,
    scaling: float | None = None,
    impl: str = "reference",
) -> torch.Tensor:
    """Landmark attention output ``[B, H, q, D]`` (``query``'s dtype) of ``query`` ``[B, H, q, D]`` over ``key``/
    ``value`` ``[B, H_kv, S, D]`` with a bool ``mask`` ``[B, 1, q, S]`` (``None``: every key, no padding)."""
    cfg = LandmarkAttentionConfig(block_size=block_size, top_k=top_k, impl=impl)
    scale = attention_scale(query, key, value, mask, scaling, queries_last=True)
    run: Callable[..., torch.Tensor]
    if cfg.impl == "triton":
        from hf_tokens.attention.landmark.triton import landmark_attention_triton as run
    else:
        from hf_tokens.attention.landmark.reference import landmark_attention_reference as run
    return run(query, key, value, mask, scaling=scale, period=cfg.period, top_k=cfg.top_k)


@attention_function(KEY, LandmarkAttentionConfig)
def landmark_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    cfg: LandmarkAttentionConfig,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: settings from ``module.config``; returns ``([B, q, H, D], None)``
    (``run`` of :func:`~hf_tokens.attention.common.attention_function`)."""
    return landmark_attention_op(query, key, value, mask, scaling=scaling, **cfg.as_kwargs()), None


def register_landmark_attention() -> str:
    """Register ``hf_tokens_landmark`` (function + bool mask builder) with transformers; returns the key."""
    from hf_tokens.attention.register import register_attention

    return register_attention(KEY, landmark_attention, mask="bool")


def _make_kernel_inputs(dtype: torch.dtype, seed: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The shared kernel-test inputs (odd shapes, grouped-query heads, left padding, q < S) in blocks of 5 + 1."""
    return kernel_test_inputs(dtype, seed), {"block_size": 5}


def contract() -> dict[str, Any]:
    """The attention contract (tests/suites/README.md): one block longer than any test sequence is causal softmax
    (``exact_kwargs``); the other checks run blocks of 3 tokens + a landmark (many blocks in 16 tokens)."""
    return {
        "key": register_landmark_attention(),
        "fn": landmark_attention,
        "mask": "bool",
        "exact_kwargs": LandmarkAttentionConfig(block_size=1 << 20).to_model_kwargs(),
        "model_kwargs": LandmarkAttentionConfig(block_size=3).to_model_kwargs(),
        "kernel": {
            "fn": landmark_attention_op,
            "impls": IMPLS,
            "make_inputs": _make_kernel_inputs,
            "tolerances": {torch.float32: (1e-5, 1e-5), torch.bfloat16: (2e-2, 2e-2)},
        },
    }
