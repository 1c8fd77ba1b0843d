"""The ``hf_tokens_cca`` attention function, its op (``impl="chunked" | "reference" | "triton"``) and its contract.

``cca_attention`` has transformers' attention signature and reads its settings from ``module.config``
(:class:`~hf_tokens.attention.cca.config.CCAConfig`, the ``cca_*`` attributes)::

    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="hf_tokens_cca",
                                                 cca_group_size=16, cca_local_window=256)

Cached decoding (the simplest correct path): a core token needs the query of its group's last token, which the KV
cache does not keep, so each attention module keeps the core keys/values of the groups completed so far
(``[B, H, G, D]``, detached) next to the ordinary cache, reset by every call that starts a sequence (as many queries
as keys). A later call (queries = the last keys of the cache) pools the groups its queries complete and reads the
rest from that state, so a decoding step costs O(G + s). The full KV cache is kept (the cores are recomputable only
from it); beam search, which reorders the cache, is not supported (the state is not reordered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from hf_tokens.attention.cca.config import IMPLS, CCAConfig
from hf_tokens.attention.cca.reference import (
    cca_attention_chunked,
    cca_attention_reference,
    pool_cores,
    row_padding,
)
from hf_tokens.attention.common import attention_function, attention_scale, kernel_test_inputs

KEY = "hf_tokens_cca"
STATE = "_hf_tokens_cca_state"


@dataclass
class CoreState:
    """Core tokens an attention module pooled so far: ``keys`` seen, ``core_k``/``core_v`` ``[B, H, G, D]``."""

    keys: int
    core_k: torch.Tensor
    core_v: torch.Tensor


def cca_forward(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    group_size: int,
    local_window: int,
    scaling: float | None = None,
    impl: str = "chunked",
    past: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """``(output [B, H, q, D], (core_k, core_v))``: CCA attention of ``query`` over ``key``/``value``
    ``[B, H_kv, S, D]`` with a bool ``mask`` ``[B, 1, q, S]`` (``None``: causal, no padding). ``past``: the cores
    returned by the previous call on the same sequence, needed when the queries do not start the sequence."""
    cfg = CCAConfig(group_size=group_size, local_window=local_window, impl=impl)
    scale = attention_scale(query, key, value, mask, scaling, queries_last=True)
    pad = row_padding(mask, query.shape[0], key.shape[2], query.device)
    cores = pool_cores(query, key, value, pad, past, group_size=cfg.group_size, scaling=scale)
    settings: dict[str, Any] = {"scaling": scale, "group_size": cfg.group_size, "local_window": cfg.local_window}
    if cfg.impl == "triton":
        from hf_tokens.attention.cca.triton import cca_attention_triton

        out = cca_attention_triton(query, key, value, mask, cores, pad, **settings)
    elif cfg.impl == "reference":
        out = cca_attention_reference(query, key, value, mask, cores, pad, **settings)
    else:
        out = cca_attention_chunked(query, key, value, mask, cores, pad, **settings)
    return out, cores


def cca_attention_op(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    **kwargs: Any,
) -> torch.Tensor:
    """The output of :func:`cca_forward` alone (same arguments)."""
    return cca_forward(query, key, value, mask, **kwargs)[0]


@attention_function(KEY, CCAConfig)
def cca_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    cfg: CCAConfig,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: settings from ``module.config``; returns ``([B, q, H, D], None)``
    (``run`` of :func:`~hf_tokens.attention.common.attention_function`)."""
    if getattr(module, "is_causal", True) is False:
        raise TypeError(
            f"{KEY} is causal (core tokens of earlier groups + a window of recent tokens); "
            f"{type(module).__name__} is a bidirectional attention (is_causal=False): use a decoder-only model"
        )
    q_len, s_len = query.shape[2], key.shape[2]
    past = None
    if q_len < s_len:
        state = getattr(module, STATE, None)
        if state is None or state.keys != s_len - q_len or state.core_k.shape[0] != query.shape[0]:
            raise ValueError(
                f"{KEY}: these {q_len} queries continue a cache of {s_len - q_len} keys, but this layer's core tokens "
                "cover " + ("nothing" if state is None else f"{state.keys} keys") + " (run the whole prefix through "
                f"{KEY}, with one cache per sequence; beam search is not supported)"
            )
        past = (state.core_k, state.core_v)
    out, (core_k, core_v) = cca_forward(query, key, value, mask, scaling=scaling, past=past, **cfg.as_kwargs())
    setattr(module, STATE, CoreState(s_len, core_k.detach(), core_v.detach()))
    return out, None


def register_cca_attention() -> str:
    """Register ``hf_tokens_cca`` (function + bool mask builder) with transformers; returns the key."""
    from hf_tokens.attention.register import register_attention

    return register_attention(KEY, cca_attention, mask="bool")


def _make_kernel_inputs(dtype: torch.dtype, seed: int) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The shared kernel-test inputs (odd shapes, grouped-query heads, left padding, q < S), groups of 4, a window
    of 6, and random cores for the groups that end before the queries."""
    query, key, value, mask = kernel_test_inputs(dtype, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    shape = (query.shape[0], query.shape[1], key.shape[2] // 4, query.shape[-1])
    past = (torch.randn(shape, generator=gen).to(dtype), torch.randn(shape, generator=gen).to(dtype))
    return (query, key, value, mask), {"group_size": 4, "local_window": 6, "past": past}


def contract() -> dict[str, Any]:
    """The attention contract (tests/suites/README.md): groups of one token are full causal attention
    (``exact_kwargs``); the other checks run groups of 3 and a window of 4 (several core tokens in 16 tokens)."""
    return {
        "key": register_cca_attention(),
        "fn": cca_attention,
        "mask": "bool",
        "exact_kwargs": CCAConfig(group_size=1, local_window=2).to_model_kwargs(),
        "model_kwargs": CCAConfig(group_size=3, local_window=4).to_model_kwargs(),
        "kernel": {
            "fn": cca_attention_op,
            "impls": IMPLS,
            "make_inputs": _make_kernel_inputs,
            "tolerances": {torch.float32: (1e-5, 1e-5), torch.bfloat16: (2e-2, 2e-2)},
        },
    }
