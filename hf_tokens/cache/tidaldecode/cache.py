"""TidalDecode: position-persistent sparse attention (Yang et al., arXiv 2410.05076).

The cache keeps every token. During decoding:

* the first layers (before the first token-selection layer) attend densely;
* a **token-selection layer** attends densely too, and picks the ``budget`` tokens with the highest attention
  (its heads' softmax probabilities summed, via :func:`hf_tokens.ops.qk_vote.qk_vote`), plus sinks and a window;
* every following layer attends only to those positions ("position persistent": the same token positions for all
  heads and layers) until the **re-selection layer**, a later selection layer that recomputes the positions for the
  layers after it (the paper's fix for the drift of important tokens in deeper layers).

The attention function is the sdpa observation of :mod:`hf_tokens.attention.hooks`: sparse layers run sdpa on
the gathered keys/values/mask, so the model keeps ``attn_implementation="sdpa"`` and nothing is registered globally.

Defaults follow the paper's Llama-3-8B setting scaled to depth ``L``: selection at layer ``min(2, L-1)`` and
re-selection at ``round(13 * L / 32)``; ``selection_layers`` overrides them. Deviation: the paper's kernels select
per head group with fused top-k; here one position set is shared by all heads of a step (its default as well), and
prefill is dense.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from hf_tokens.attention.hooks import AttentionCall
from hf_tokens.cache.base import BudgetConfig, BudgetedCache, BudgetedLayer
from hf_tokens.cache.selection import SelectionLayer
from hf_tokens.ops.qk_vote import IMPLS, qk_vote


@dataclasses.dataclass
class TidalDecodeConfig(BudgetConfig):
    """TidalDecode (arXiv 2410.05076): tokens attended per sparse layer, selection / re-selection layers."""

    window: float | int = dataclasses.field(
        default=0.125, metadata={"help": "recent tokens always attended: fraction of the budget or count"}
    )
    n_sink: int = dataclasses.field(default=4, metadata={"help": "first real tokens always attended"})
    selection_layers: tuple[int, ...] | None = dataclasses.field(
        default=None,
        metadata={"help": "indices of token-selection layers (first = selection, later = re-selection); None = paper"},
    )
    impl: str = dataclasses.field(default="reference", metadata={"help": f"Q.K scoring kernel, one of {IMPLS}"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.selection_layers is not None:
            layers = tuple(self.selection_layers)
            if not layers or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in layers):
                raise ValueError(
                    f"selection_layers must be a non-empty tuple of ints >= 0, got {self.selection_layers!r}"
                )
            if list(layers) != sorted(set(layers)):
                raise ValueError(f"selection_layers must be strictly increasing, got {layers}")
            self.selection_layers = layers
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {self.impl!r}")


def default_selection_layers(num_layers: int) -> tuple[int, ...]:
    first = min(2, num_layers - 1)
    again = round(13 * num_layers / 32)
    return (first,) if again <= first else (first, again)


class TidalDecodeLayer(SelectionLayer):
    cache: TidalDecodeCache
    config: TidalDecodeConfig

    def select(self, call: AttentionCall) -> torch.Tensor | None:
        cache = self.cache
        first = cache.selection_layers[0]
        if self.layer_idx < first:
            return None  # dense layers before the first selection layer
        if self.layer_idx in cache.selection_layers:
            batch, _, _, dim = self.keys.shape
            query = call.query.reshape(batch, -1, dim)
            dead = self.dead[:, 0] if self.has_dead else None
            cache.selected = self.top_tokens(qk_vote(query, self.keys, call.scale, dead, impl=self.config.impl))
            cache.selected_at = (self.layer_idx, self.seen)
            return None  # the selection layer itself attends densely
        if cache.selected is None or cache.selected_at[1] != self.seen:
            raise RuntimeError("TidalDecode: no token selection for this step (selection layer did not run)")
        return cache.selected


class TidalDecodeCache(BudgetedCache):
    """``TidalDecodeCache(model.config, budget=0.2)``: few selection layers, the rest attend to selected positions."""

    layer_cls: ClassVar[type[BudgetedLayer]] = TidalDecodeLayer
    config_cls: ClassVar[type[BudgetConfig]] = TidalDecodeConfig
    budget_config: TidalDecodeConfig

    def setup(self) -> None:
        num_layers = self.model_config.num_hidden_layers
        layers = self.budget_config.selection_layers or default_selection_layers(num_layers)
        if layers[-1] >= num_layers:
            raise ValueError(f"selection_layers {layers} must be < the model's num_hidden_layers ({num_layers})")
        self.selection_layers: tuple[int, ...] = tuple(layers)
        self.selected: torch.Tensor | None = None
        self.selected_at: tuple[int, int] = (-1, -1)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        super().reorder_cache(beam_idx)
        self.selected = None


def contract() -> dict[str, Any]:
    return {"factory": lambda config: TidalDecodeCache(config, budget=1.0), "budgeted": None}
