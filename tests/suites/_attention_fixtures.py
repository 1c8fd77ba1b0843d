"""Fixture attention methods for the attention contract suite's own tests: one correct, several deliberately broken.

The correct one is softmax attention with a temperature read from the model config (``fixture_temperature``): at
temperature 1 it equals sdpa (its ``exact_kwargs``), elsewhere it is a different but well-behaved attention, which
is what most registered methods are. Each broken variant has one bug a real attention function could have.
"""

from __future__ import annotations

from typing import Any

import torch

KEYS = {
    "ok": "hf_tokens_fixture_ok",
    "ignores_mask": "hf_tokens_fixture_ignores_mask",
    "top_left_causal": "hf_tokens_fixture_top_left_causal",
    "wrong_gqa": "hf_tokens_fixture_wrong_gqa",
    "float32_output": "hf_tokens_fixture_float32_output",
    "kernel_drops_scale": "hf_tokens_fixture_kernel_drops_scale",
}


def _attention(module: Any, query: Any, key: Any, value: Any, mask: Any, scaling: float, bug: str | None) -> Any:
    groups = query.shape[1] // key.shape[1]
    if bug == "wrong_gqa":  # tiles the KV heads: query head h reads KV head h % H_kv instead of h // groups
        key, value = key.repeat(1, groups, 1, 1), value.repeat(1, groups, 1, 1)
    else:
        key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    temperature = getattr(module.config, "fixture_temperature", 1.0)
    logits = torch.matmul(query.float(), key.float().transpose(-1, -2)) * (scaling / temperature)
    if bug == "top_left_causal":  # builds its own causal mask, aligned as if no token were cached
        q_len, kv_len = logits.shape[-2:]
        mask = torch.ones(q_len, kv_len, dtype=torch.bool, device=logits.device).tril()
    if mask is not None and bug != "ignores_mask":
        logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)  # finite: pad query rows stay finite
    probs = torch.softmax(logits, dim=-1)
    out = torch.matmul(probs, value.float()).transpose(1, 2).contiguous()
    return (out if bug == "float32_output" else out.to(value.dtype)), None


def make_attention(bug: str | None) -> Any:
    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        return _attention(module, query, key, value, attention_mask, scale, bug)

    attention.__name__ = f"fixture_attention_{bug or 'ok'}"
    return attention


FUNCTIONS = {name: make_attention(None if name in ("ok", "kernel_drops_scale") else name) for name in KEYS}


def row_attention(q: Any, k: Any, v: Any, scale: float, *, impl: str = "reference", drop_scale: bool = False) -> Any:
    """``softmax(scale * q_n . k_n) v_n`` per row ``n``: ``q`` ``[N, D]``, ``k``/``v`` ``[N, S, D]`` -> ``[N, D]``."""
    if impl == "triton":
        from tests.suites._attention_kernel_fixture import row_attention_triton

        return row_attention_triton(q, k, v, 1.0 if drop_scale else scale)
    if impl != "reference":
        raise ValueError(f"impl must be 'reference' or 'triton', got {impl!r}")
    probs = torch.softmax(torch.einsum("nd,nsd->ns", q.float(), k.float()) * scale, dim=-1)
    return torch.einsum("ns,nsd->nd", probs, v.float()).to(q.dtype)


def _kernel(drop_scale: bool) -> dict[str, Any]:
    def fn(q, k, v, scale, *, impl="reference"):
        return row_attention(q, k, v, scale, impl=impl, drop_scale=drop_scale)

    def make_inputs(dtype, seed):
        gen = torch.Generator().manual_seed(seed)
        q, k, v = (torch.randn(*shape, generator=gen).to(dtype) for shape in ((6, 24), (6, 37, 24), (6, 37, 24)))
        return (q, k, v, 0.3), {}

    return {
        "fn": fn,
        "impls": ("reference", "triton"),
        "make_inputs": make_inputs,
        "tolerances": {torch.float32: (1e-5, 1e-5), torch.bfloat16: (2e-2, 2e-2)},
    }


def contract(name: str) -> dict[str, Any]:
    """The attention contract of fixture ``name`` (see tests/suites/README.md for the keys)."""
    return {
        "key": KEYS[name],
        "fn": FUNCTIONS[name],
        "mask": "bool",
        "exact_kwargs": {"fixture_temperature": 1.0},
        "model_kwargs": {"fixture_temperature": 1.7},
        "kernel": _kernel(drop_scale=name == "kernel_drops_scale"),
    }
