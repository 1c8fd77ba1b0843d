"""Budget settings shared by every budgeted cache, and the check of the model a cache is built for."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "qwen3", "mistral")


def _is_ratio(value: Any) -> bool:
    return isinstance(value, float)


@dataclasses.dataclass
class BudgetConfig:
    """Budget, recent window and sink tokens shared by every cache here (validated before any work)."""

    budget: float | int = dataclasses.field(
        default=0.2,
        metadata={"help": "float in (0, 1]: fraction of the tokens seen kept per layer; int >= 1: tokens per layer"},
    )
    window: float | int = dataclasses.field(
        default=0.0,
        metadata={"help": "recent tokens always kept: float = fraction of the budget, int = count (int budget only)"},
    )
    n_sink: int = dataclasses.field(default=0, metadata={"help": "first real tokens always kept (attention sinks)"})

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, (int, float)):
            raise TypeError(f"budget must be a float ratio in (0, 1] or an int >= 1, got {self.budget!r}")
        if _is_ratio(self.budget) and not 0.0 < self.budget <= 1.0:
            raise ValueError(f"budget as a ratio must be in (0, 1], got {self.budget}; pass an int for a token count")
        if isinstance(self.budget, int) and self.budget < 1:
            raise ValueError(f"budget as a token count must be >= 1, got {self.budget}")
        if isinstance(self.window, bool) or not isinstance(self.window, (int, float)):
            raise TypeError(f"window must be a float fraction of the budget or an int count, got {self.window!r}")
        if _is_ratio(self.window):
            if not 0.0 <= self.window <= 1.0:
                raise ValueError(f"window as a fraction of the budget must be in [0, 1], got {self.window}")
        else:
            if self.window < 0:
                raise ValueError(f"window must be >= 0, got {self.window}")
            if _is_ratio(self.budget):
                raise ValueError(
                    f"window={self.window} is a token count but budget={self.budget} is a ratio; give window as a "
                    "fraction of the budget (float) or budget as a token count (int)"
                )
            if self.window > self.budget:
                raise ValueError(f"window ({self.window}) must not be larger than budget ({self.budget})")
        if isinstance(self.n_sink, bool) or not isinstance(self.n_sink, int) or self.n_sink < 0:
            raise ValueError(f"n_sink must be an int >= 0, got {self.n_sink!r}")
        if isinstance(self.budget, int) and self.n_sink + self.resolve_window(self.budget) > self.budget:
            raise ValueError(
                f"n_sink ({self.n_sink}) + window ({self.resolve_window(self.budget)}) must not exceed budget "
                f"({self.budget})"
            )

    def capacity(self, seen: int) -> int:
        """Tokens a layer may hold after seeing ``seen`` tokens."""
        if _is_ratio(self.budget):
            return max(1, math.ceil(self.budget * seen - 1e-9))
        return int(self.budget)

    def resolve_window(self, capacity: int) -> int:
        if _is_ratio(self.window):
            return int(self.window * capacity)
        return int(self.window)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_model_config(config: Any, owner: str) -> None:
    """Raise ValueError unless ``config`` is a decoder of a supported family with full attention in every layer."""
    if not hasattr(config, "get_text_config"):
        raise TypeError(f"{owner}: config must be a transformers PretrainedConfig (model.config), got {config!r}")
    text = config.get_text_config(decoder=True)
    model_type = getattr(text, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"{owner}: config.model_type={model_type!r} is not supported; supported: {SUPPORTED_MODEL_TYPES}"
        )
    impl = getattr(text, "_attn_implementation", None)
    if impl not in (None, "sdpa"):
        raise ValueError(
            f"{owner}: the model uses attn_implementation={impl!r}; these caches read the query from transformers' "
            "sdpa attention: load the model with attn_implementation='sdpa' (the default)"
        )
    layer_types = getattr(text, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types) or (
        getattr(text, "sliding_window", None) and getattr(text, "use_sliding_window", True)
    ):
        raise ValueError(
            f"{owner}: config uses sliding-window attention layers (layer_types={layer_types}, sliding_window="
            f"{getattr(text, 'sliding_window', None)}); only full-attention models are supported"
        )
