"""Input checks every registered attention function makes (one place, one wording)."""

from __future__ import annotations

from typing import Any

import torch


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
