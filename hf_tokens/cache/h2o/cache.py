"""H2O: Heavy-Hitter Oracle (Zhang et al., 2023, arXiv 2306.14048).

Each layer keeps, per KV head, the most recent tokens plus the "heavy hitters": the tokens with the largest attention
accumulated over every query so far (prefill and decoding). After each attention call the layer evicts down to its
budget, so the stored tensors really shrink (the reference code only masks).

Checked against the official code (``FMInference/H2O``: ``utils_real_drop`` and ``utils_hh``): the score of a
token is the sum over heads' queries of its attention probability, accumulated over the prefill (one dense pass,
as in the real-drop cache) and every decoding step; evicted tokens lose their score; the recent window is kept and
the heavy hitters are the top scores among the other tokens; default split 50/50 (``window=0.5``, the official
``heavy_ratio = recent_ratio``). No sink tokens are protected (``n_sink=0``): the first token keeps itself by its
score.

Recent/heavy split measured (SmolLM2-135M, 2k context, 20% budget, the 15 texts of ``benchmarks/kv_cache.py
--texts 16`` drawn the same way in both runs; ad-hoc loop over ``benchmarks/_kv_eval.continuation_nll``; perplexity
ratio to the full cache): ``window=0.25`` 1.134, ``0.5`` (default, the paper's balance) 1.099, ``0.75`` 1.104.

Deviations: with grouped-query attention a KV head's score sums the attention of its query heads (the official code
is multi-head only; llama-recipes' GQA port also sums the group); ``budget`` as a ratio is a fraction of all tokens
seen, re-evaluated every step (the official budget is fixed from the prompt length, slightly smaller).
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
        self.acc += probs.sum(dim=(2, 3))

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
