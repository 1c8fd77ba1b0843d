"""TokenSelect: dynamic token-level KV selection by per-head Q.K soft voting (Wu et al., arXiv 2411.02886).

The cache keeps every token; each decoding query attends to at most ``budget`` of them, per layer:

* **Per-head soft voting.** Each query head turns its Q.K logits over the cached tokens into a softmax distribution
  and the distributions are summed (:func:`hf_tokens.ops.qk_vote.qk_vote`); the top tokens by vote, together with
  the first ``n_sink`` tokens and a recent window, form the selection, shared by all heads of the layer.
* **Selection cache.** When a row's query is similar to its previous step's query (cosine similarity, averaged over
  heads, at least ``similarity_threshold``), that row reuses its previous votes instead of recomputing Q.K, so its
  selection is only extended by the new tokens (which the recent window covers). Q.K runs only if some row needs it.
* The Q.K scoring is an op with a PyTorch reference and a Triton kernel (``impl="triton"``).

Deviations: the paper also applies selection during chunked prefill and pages the cache; here prefill is dense and
the cache is one tensor per layer (the point of TokenSelect is compute, not memory: it keeps the full cache).
With grouped-query attention each query head votes against its KV head's keys.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from hf_tokens.cache.base import BudgetConfig, BudgetedCache, BudgetedLayer, SdpaCall, SelectionLayer, tiered_topk
from hf_tokens.ops.qk_vote import IMPLS, qk_vote


@dataclasses.dataclass
class TokenSelectConfig(BudgetConfig):
    """TokenSelect (arXiv 2411.02886): tokens attended per query, sinks/window, selection-cache threshold, kernel."""

    window: float | int = dataclasses.field(
        default=0.125, metadata={"help": "recent tokens always attended: fraction of the budget or count"}
    )
    n_sink: int = dataclasses.field(default=4, metadata={"help": "first real tokens always attended"})
    similarity_threshold: float = dataclasses.field(
        default=0.9,
        metadata={
            "help": "reuse the previous selection when consecutive queries' cosine similarity >= this; >1 = never"
        },
    )
    impl: str = dataclasses.field(default="reference", metadata={"help": f"Q.K scoring kernel, one of {IMPLS}"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.similarity_threshold, (int, float)) or self.similarity_threshold < -1.0:
            raise ValueError(f"similarity_threshold must be a number >= -1, got {self.similarity_threshold!r}")
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {self.impl!r}")


class TokenSelectLayer(SelectionLayer):
    config: TokenSelectConfig

    def __init__(self, cache: BudgetedCache, layer_idx: int) -> None:
        super().__init__(cache, layer_idx)
        self.prev_query: torch.Tensor | None = None
        self.votes: torch.Tensor | None = None
        self.reused = 0
        self.selections = 0

    def batch_state(self) -> tuple[str, ...]:
        return ("prev_query", "votes")

    def reset(self) -> None:
        super().reset()
        self.prev_query = self.votes = None

    def select(self, call: SdpaCall) -> torch.Tensor | None:
        batch, _, stored, dim = self.keys.shape
        query = call.query.reshape(batch, -1, dim)  # [B, H, D] (plain or packed single-token layout)
        reuse = torch.zeros(batch, dtype=torch.bool, device=query.device)
        if self.prev_query is not None and self.votes is not None:
            similarity = F.cosine_similarity(query.float(), self.prev_query.float(), dim=-1).mean(-1)  # per row
            reuse = similarity >= self.config.similarity_threshold
        if bool(reuse.all()):
            assert self.votes is not None
            votes = F.pad(self.votes, (0, stored - self.votes.shape[-1]))
        else:
            scale = call.kwargs.get("scale") or dim**-0.5
            votes = qk_vote(query, self.keys, float(scale), self.dead[:, 0], impl=self.config.impl)
            if bool(reuse.any()):
                assert self.votes is not None
                votes = torch.where(reuse[:, None], F.pad(self.votes, (0, stored - self.votes.shape[-1])), votes)
        self.reused += int(reuse.sum())
        self.selections += batch
        self.prev_query, self.votes = query, votes
        return tiered_topk(votes, self.selection_tiers(), self.config.capacity(self.seen))


class TokenSelectCache(BudgetedCache):
    """``TokenSelectCache(model.config, budget=0.2)``: full cache, each query attends to the top 20% by Q.K votes."""

    layer_cls: ClassVar[type[BudgetedLayer]] = TokenSelectLayer
    config_cls: ClassVar[type[BudgetConfig]] = TokenSelectConfig

    @property
    def reuse_rate(self) -> float:
        """Fraction of (row, layer, step) selections served by the selection cache."""
        layers = [layer for layer in self.layers if isinstance(layer, TokenSelectLayer)]
        total = sum(layer.selections for layer in layers)
        return sum(layer.reused for layer in layers) / total if total else 0.0


def contract() -> dict[str, Any]:
    return {"factory": lambda config: TokenSelectCache(config, budget=1.0), "budgeted": None}
