"""Machinery shared by the attention methods: transformers' attention signature around a method's computation
(:func:`attention_function`: its module's config, no dropout, the bool mask), input checks and the scale of an
attention op, settings stored as prefixed model-config attributes, and the kernel-test inputs of the contract (odd
shapes, grouped-query heads, a left-padded row, a cached-decoding offset)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import torch

__all__ = [
    "ModelConfigSettings",
    "attention_function",
    "attention_scale",
    "check_attention_inputs",
    "check_call",
    "kernel_test_inputs",
    "module_config",
]

S = TypeVar("S", bound="ModelConfigSettings")
Output = tuple[torch.Tensor, torch.Tensor | None]


def check_attention_inputs(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None
) -> None:
    """Raise ValueError/TypeError unless ``query`` is ``[B, H, q, D]``, ``key``/``value`` ``[B, H_kv, S, D]`` of one
    shape with ``H_kv`` dividing ``H``, and ``mask`` a bool tensor or ``None``."""
    if query.dim() != 4 or key.dim() != 4 or value.shape != key.shape:
        raise ValueError(
            f"query must be [B, H, q, D] and key/value [B, H_kv, S, D] of one shape, got {tuple(query.shape)}, "
            f"{tuple(key.shape)}, {tuple(value.shape)}"
        )
    if query.shape[1] % key.shape[1] or query.shape[-1] != key.shape[-1] or query.shape[0] != key.shape[0]:
        raise ValueError(
            f"query heads ({query.shape[1]}) must be a multiple of KV heads ({key.shape[1]}) with the same batch "
            f"and head_dim, got query {tuple(query.shape)} and key {tuple(key.shape)}"
        )
    if mask is not None and mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got {mask.dtype}")


def attention_scale(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    scaling: float | None,
    *,
    queries_last: bool = False,
) -> float:
    """:func:`check_attention_inputs`, then the softmax scale: ``scaling``, or ``head_dim ** -0.5`` when ``None``.
    ``queries_last``: the queries must be the last keys (a ValueError when there are more queries than keys)."""
    check_attention_inputs(query, key, value, mask)
    if queries_last and query.shape[2] > key.shape[2]:
        raise ValueError(f"more queries ({query.shape[2]}) than keys ({key.shape[2]}): queries are the last keys")
    return query.shape[-1] ** -0.5 if scaling is None else float(scaling)


class ModelConfigSettings:
    """Mixin for a settings dataclass stored on a model config as ``<PREFIX><field>`` attributes."""

    PREFIX: ClassVar[str] = ""

    def as_kwargs(self) -> dict[str, Any]:
        """The settings as keyword arguments named like the fields (those of the method's attention op)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def to_model_kwargs(self) -> dict[str, Any]:
        """The settings as prefixed keyword arguments for a model config."""
        return {self.PREFIX + f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def apply(self, model_config: Any) -> Any:
        """Write the settings onto a ``PretrainedConfig`` (returned)."""
        for key, value in self.to_model_kwargs().items():
            setattr(model_config, key, value)
        return model_config

    @classmethod
    def from_model_config(cls: type[S], model_config: Any) -> S:
        """Read the prefixed attributes of a model config (defaults for missing ones); validates them."""
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if hasattr(model_config, cls.PREFIX + f.name):
                values[f.name] = getattr(model_config, cls.PREFIX + f.name)
        return cls(**values)


def kernel_test_inputs(dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, ...]:
    """``(query [2, 4, 19, 24], key, value [2, 2, 37, 24], bool mask [2, 1, 19, 37])``: grouped-query heads, the
    queries are the last 19 keys (cached decoding), row 1 left-padded by 5 keys."""
    gen = torch.Generator().manual_seed(seed)
    batch, heads, kv_heads, q_len, s_len, dim = 2, 4, 2, 19, 37, 24
    query = torch.randn(batch, heads, q_len, dim, generator=gen).to(dtype)
    key = torch.randn(batch, kv_heads, s_len, dim, generator=gen).to(dtype)
    value = torch.randn(batch, kv_heads, s_len, dim, generator=gen).to(dtype)
    pos_q = torch.arange(s_len - q_len, s_len)[:, None]
    mask = (torch.arange(s_len)[None, :] <= pos_q)[None, None].repeat(batch, 1, 1, 1)
    mask[1, :, :, :5] = False
    return query, key, value, mask


def module_config(module: Any, key: str) -> Any:
    """The attention module's model config (where a function reads its settings), or a TypeError saying why not."""
    config = getattr(module, "config", None)
    if config is None:
        raise TypeError(
            f"{key} reads its settings from the attention module's .config; {type(module).__name__} has none (use "
            "a model whose attention layers keep their config, e.g. Llama, Qwen2, Mistral)"
        )
    return config


def check_call(module: Any, attention_mask: torch.Tensor | None, dropout: float, key: str) -> None:
    """No attention dropout while training, and the bool mask of ``register_attention(mask="bool")``."""
    if dropout and module.training:
        raise ValueError(f"{key} does not implement attention dropout; set attention_dropout=0.0")
    if attention_mask is not None and attention_mask.dtype != torch.bool:
        raise TypeError(
            f"{key} needs the bool mask of register_attention(mask='bool'); got an additive {attention_mask.dtype} "
            "mask (was the function registered with another mask builder?)"
        )


def attention_function(
    name: str, settings: type[ModelConfigSettings] | None = None
) -> Callable[[Callable[..., Output]], Callable[..., Output]]:
    """Decorator: give ``run(module, query, key, value, mask, scaling, cfg) -> (output [B, H, q, D], weights or
    None)`` transformers' attention signature ``fn(module, query, key, value, attention_mask, scaling=None,
    dropout=0.0, **kwargs) -> (output [B, q, H, D], weights or None)`` (see :mod:`hf_tokens.attention.register`).

    Each call reads ``cfg`` from the attention module's config (:func:`module_config`; parsed as ``settings`` when
    given, else the model config itself), then makes :func:`check_call`'s checks; errors name the function by
    ``name`` (its registration key)."""

    def wrap(run: Callable[..., Output]) -> Callable[..., Output]:
        @functools.wraps(run)
        def fn(
            module: Any,
            query: torch.Tensor,
            key: torch.Tensor,
            value: torch.Tensor,
            attention_mask: torch.Tensor | None,
            scaling: float | None = None,
            dropout: float = 0.0,
            **kwargs: Any,
        ) -> Output:
            cfg = module_config(module, name)
            if settings is not None:
                cfg = settings.from_model_config(cfg)
            check_call(module, attention_mask, dropout, name)
            out, weights = run(module, query, key, value, attention_mask, scaling, cfg)
            return out.transpose(1, 2).contiguous(), weights

        del fn.__wrapped__  # type: ignore[attr-defined]  # the signature callers see is transformers', not run's
        return fn

    return wrap
