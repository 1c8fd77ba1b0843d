"""The ``hf_tokens_softplus`` attention function, its op (``impl="reference" | "triton"``) and its contract.

``softplus_attention`` has transformers' attention signature and reads its settings from ``module.config``
(:class:`~hf_tokens.attention.softplus.config.SoftplusAttentionConfig`, the ``softplus_*`` attributes), so::

    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="hf_tokens_softplus",
                                                 softplus_reweight_power=15.0)

The mask it receives is the bool ``[B, 1, q, S]`` mask (causal + padding; ``register_attention``'s default): the
count of True entries in a row is ``N_i`` of the paper, so padding and cached decoding steps see the same ``N_i``
as one full forward over the unpadded row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from hf_tokens.attention.common import attention_function, attention_scale, kernel_test_inputs
from hf_tokens.attention.softplus.config import IMPLS, SoftplusAttentionConfig, exact_softmax_kwargs

KEY = "hf_tokens_softplus"


def softplus_attention_op(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    scaling: float | None = None,
    phi: str = "softplus",
    qk_norm: bool = True,
    length_scale: bool = True,
    reweight_power: float = 0.0,
    reweight_after: int = 0,
    offset_rows: int = 3,
    impl: str = "reference",
) -> torch.Tensor:
    """LSSA / LSSAR output ``[B, H, q, D]`` (``query``'s dtype) of ``query`` ``[B, H, q, D]`` over ``key``/``value``
    ``[B, H_kv, S, D]`` with a bool ``mask`` ``[B, 1, q, S]`` (True = may attend; ``None``: all keys)."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    scale = attention_scale(query, key, value, mask, scaling)
    run: Callable[..., torch.Tensor]
    if impl == "triton":
        from hf_tokens.attention.softplus.triton import softplus_attention_triton as run
    else:
        from hf_tokens.attention.softplus.reference import softplus_attention_reference as run
    return run(
        query,
        key,
        value,
        mask,
        scaling=scale,
        phi=phi,
        qk_norm=qk_norm,
        length_scale=length_scale,
        reweight_power=reweight_power,
        reweight_after=reweight_after,
        offset_rows=offset_rows,
    )


@attention_function(KEY, SoftplusAttentionConfig)
def softplus_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    cfg: SoftplusAttentionConfig,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: settings from ``module.config``; returns ``([B, q, H, D], None)``
    (``run`` of :func:`~hf_tokens.attention.common.attention_function`)."""
    return softplus_attention_op(query, key, value, mask, scaling=scaling, **cfg.as_kwargs()), None


def register_softplus_attention() -> str:
    """Register ``hf_tokens_softplus`` (function + bool mask builder) with transformers; returns the key."""
    from hf_tokens.attention.register import register_attention

    return register_attention(KEY, softplus_attention, mask="bool")


def _make_kernel_inputs(dtype: torch.dtype, seed: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The shared kernel-test inputs (odd shapes, grouped-query heads, left padding, q < S)."""
    return kernel_test_inputs(dtype, seed), {"reweight_power": 15.0, "reweight_after": 8}


def contract() -> dict[str, Any]:
    """The attention contract (tests/suites/README.md): equals softmax under ``exact_kwargs``; the other checks run
    LSSAR with the paper's ``p = 3`` (``p = 15`` multiplies bfloat16 rounding by 15 and leaves the suite's bf16
    tolerance on the tiny model; tests/attention/test_softplus.py runs the fp32 checks at ``p = 15``)."""
    return {
        "key": register_softplus_attention(),
        "fn": softplus_attention,
        "mask": "bool",
        "exact_kwargs": exact_softmax_kwargs(),
        "model_kwargs": SoftplusAttentionConfig(reweight_power=3.0).to_model_kwargs(),
        "kernel": {
            "fn": softplus_attention_op,
            "impls": IMPLS,
            "make_inputs": _make_kernel_inputs,
            "tolerances": {torch.float32: (1e-5, 1e-5), torch.bfloat16: (2e-2, 2e-2)},
        },
    }
