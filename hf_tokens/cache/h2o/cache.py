"""H2O: Heavy-Hitter Oracle (Zhang et al., 2023, arXiv 2306.14048).

Each layer keeps, per KV head, the most recent tokens plus the "heavy hitters": the tokens with the largest attention
accumulated over every query so far (prefill and decoding). After each attention call the layer evicts down to its
budget, so the stored tensors really shrink (the reference code only masks).

Deviations: with grouped-query attention a KV head's score sums the attention of its query heads (the paper's models
are multi-head); ``budget`` as a ratio is a fraction of all tokens seen, re-evaluated every step; the split between
recent and heavy tokens is ``window`` (default half of the budget, as in the paper's 50/50 setting).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from hf_tokens.cache.base import BudgetConfig, BudgetedCache, BudgetedLayer


@dataclasses.dataclass
class H2OConfig(BudgetConfig):
    """H2O (arXiv 2306.14048): budget, recent window (fraction of the budget) and sink tokens."""

    window: float | int = dataclasses.field(
        default=0.5, metadata={"help": "recent tokens kept: fraction of the budget (float) or count (int budget)"}
    )


class H2OLayer(BudgetedLayer):
    needs_probs = True
    extra_state = ("acc",)
    acc: torch.Tensor

    def accumulate(self, probs: torch.Tensor) -> None:
        self.acc = self.acc + probs.sum(dim=(2, 3))

    def score(self) -> torch.Tensor:
        return self.acc


class H2OCache(BudgetedCache):
    """``H2OCache(model.config, budget=0.2)``: recent + heavy-hitter tokens by accumulated attention, per KV head."""

    layer_cls: ClassVar[type[BudgetedLayer]] = H2OLayer
    config_cls: ClassVar[type[BudgetConfig]] = H2OConfig


def contract() -> dict[str, Any]:
    return {
        "factory": lambda config: H2OCache(config, budget=1.0),
        "budgeted": lambda config, budget: H2OCache(config, budget=int(budget), window=0.5),
    }
