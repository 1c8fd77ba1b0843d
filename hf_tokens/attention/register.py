"""Register an attention function with transformers under ``hf_tokens_<id>``, together with its mask builder.

transformers looks an attention implementation up in two places: ``AttentionInterface`` (the function each
attention layer calls) and ``AttentionMaskInterface`` (the function that builds the mask the model passes to it).
A function registered only in the first silently receives ``attention_mask=None`` (no causal mask, no padding), so
:func:`register_attention` always registers both under the same key::

    from hf_tokens.attention import register_attention

    key = register_attention("hf_tokens_softplus", softplus_attention)
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation=key)  # or set_attn_implementation(key)

The function has transformers' attention signature ``fn(module, query, key, value, attention_mask, scaling=...,
dropout=..., **kwargs) -> (output [B, q, H, D], weights or None)`` with ``query`` ``[B, H, q, D]`` and
``key``/``value`` ``[B, H_kv, S, D]`` (grouped-query heads are *not* repeated: ``module.num_key_value_groups`` query
heads share a KV head). ``mask`` chooses what ``attention_mask`` it receives:

* ``"bool"`` (default): always a ``[B, 1, q, S]`` bool tensor, True where the query may attend (causal + padding);
* ``"additive"``: always a float ``[B, 1, q, S]`` tensor in the model's dtype, 0 visible and the dtype's minimum
  hidden (what transformers' eager attention gets);
* ``"sdpa"``: transformers' sdpa mask, a bool tensor or ``None`` when the pattern is plainly causal without
  padding; the function must then apply causality itself when ``q > 1`` (for sdpa-based kernels);
* a callable with ``AttentionMaskInterface``'s signature.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["MASK_KINDS", "check_attention_key", "register_attention", "registered_attention", "unregister_attention"]

MASK_KINDS = ("bool", "additive", "sdpa")
KEY_PATTERN = re.compile(r"hf_tokens_[a-z0-9][a-z0-9_]*")
_OURS: dict[str, tuple[Callable[..., Any], Any]] = {}


def check_attention_key(name: Any) -> str:
    """Return ``name`` if it is a valid hf_tokens attention key, else raise a TypeError/ValueError saying why."""
    if not isinstance(name, str):
        raise TypeError(f"attention name must be a str like 'hf_tokens_softplus', got {type(name).__name__}")
    if "/" in name or ":" in name:
        raise ValueError(
            f"attention name {name!r} must not contain '/' or ':' (transformers reads such names as Hub kernels "
            "'org/repo:function'); use 'hf_tokens_<id>'"
        )
    if not KEY_PATTERN.fullmatch(name):
        raise ValueError(
            f"attention name {name!r} must be 'hf_tokens_<id>' with <id> of lowercase letters, digits and '_' "
            "(e.g. 'hf_tokens_softplus')"
        )
    return name


def _mask_builder(mask: Any) -> Any:
    from transformers.masking_utils import eager_mask, sdpa_mask

    if callable(mask):
        return mask
    if mask == "sdpa":
        return sdpa_mask
    if mask == "additive":
        return eager_mask
    if mask == "bool":
        return _bool_mask
    raise ValueError(f"mask must be one of {MASK_KINDS} or a mask-builder callable, got {mask!r}")


def _bool_mask(**kwargs: Any) -> Any:
    """transformers' sdpa mask, always materialised (never ``None`` for plain causal attention)."""
    from transformers.masking_utils import sdpa_mask

    kwargs["allow_is_causal_skip"] = False
    return sdpa_mask(**kwargs)


def register_attention(name: str, fn: Callable[..., Any], *, mask: Any = "bool", replace: bool = False) -> str:
    """Register ``fn`` with ``AttentionInterface`` and a ``mask`` builder with ``AttentionMaskInterface`` as ``name``.

    Registering the same function and mask again is a no-op; another function under a taken name raises unless
    ``replace=True``. Returns ``name`` (to pass as ``attn_implementation``).
    """
    check_attention_key(name)
    if not callable(fn):
        raise TypeError(f"fn must be an attention function (callable), got {type(fn).__name__}")
    builder = _mask_builder(mask)
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    current = (AttentionInterface._global_mapping.get(name), AttentionMaskInterface._global_mapping.get(name))
    if current == (fn, builder):
        return name
    if current != (None, None) and not replace:
        raise ValueError(
            f"attention name {name!r} is already registered (to {current[0]!r}); pass replace=True to replace it, "
            "or choose another name"
        )
    AttentionInterface.register(name, fn)
    AttentionMaskInterface.register(name, builder)
    _OURS[name] = (fn, builder)
    return name


def unregister_attention(name: str) -> None:
    """Remove an attention function registered by :func:`register_attention` (both interfaces)."""
    check_attention_key(name)
    if name not in _OURS:
        raise KeyError(f"{name!r} was not registered by hf_tokens.attention.register_attention")
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface._global_mapping.pop(name, None)
    AttentionMaskInterface._global_mapping.pop(name, None)
    del _OURS[name]


def registered_attention(name: str) -> Callable[..., Any] | None:
    """The function registered under ``name`` by :func:`register_attention`, or ``None``."""
    entry = _OURS.get(check_attention_key(name))
    return entry[0] if entry else None
