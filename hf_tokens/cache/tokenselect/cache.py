"""TokenSelect: dynamic token-level KV selection by per-head Q.K soft voting (Wu et al., arXiv 2411.02886).

The cache keeps every token; each decoding query attends to at most ``budget`` of them, per layer:

* **Always attended:** the first ``n_sink`` tokens (the paper's ``n_init``) and a recent window (``n_local``).
* **Per-head soft voting** over the remaining candidates. Each query head turns its Q.K logits over the candidate
  tokens into a softmax distribution and the distributions are summed over heads
  (:func:`hf_tokens.ops.qk_vote.qk_vote`); the top candidates by vote fill the rest of the budget. As in the
  official code (``pzs19/TokenSelect``, ``get_topk_tokens``), the softmax runs over the candidates only: the sink
  and window tokens, which are attended anyway, take no vote mass away from a head. The selection is shared by all
  heads of the layer.
* **Selection cache.** When a row's query (all heads flattened into one vector, as in the official code) has a
  cosine similarity of at least ``similarity_threshold`` (0.9, the official value) with the query that last
  computed the votes, the row reuses those votes instead of recomputing Q.K; its selection is then only extended by
  the new tokens, which the recent window covers. Q.K runs only if some row needs it.
* The Q.K scoring is an op with a PyTorch reference and a Triton kernel (``impl="triton"``).

Deviations: the paper also applies selection during chunked prefill and pages the cache; here prefill is dense and
the cache is one tensor per layer (the point of TokenSelect is compute, not memory: it keeps the full cache).
The official configuration fixes ``n_init=128, n_local=512, top_k=2048`` for 100k-token contexts; here the budget
is a fraction of the tokens seen and the window a fraction of it (default 0.125), with ``n_sink=4``. The logits are
scaled by ``1/sqrt(head_dim)`` like the attention itself (the official kernel votes with unscaled dot products; on
SmolLM2 that measured slightly worse: ppl ratio 1.036 vs 1.031 at a 20% budget, selection cache off). With
grouped-query attention each query head votes against its KV head's keys.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from hf_tokens.attention.hooks import AttentionCall
from hf_tokens.cache.base import BudgetConfig, BudgetedCache, BudgetedLayer
from hf_tokens.cache.selection import SelectionLayer
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

    def select(self, call: AttentionCall) -> torch.Tensor | None:
        batch, _, stored, dim = self.keys.shape
        query = call.query.reshape(batch, -1, dim)  # [B, H, D] (plain or packed single-token layout)
        reuse = self._reusable(query)
        if bool(reuse.all()):
            assert self.votes is not None
            votes = F.pad(self.votes, (0, stored - self.votes.shape[-1]))
        else:
            votes = self.candidate_votes(query, call.scale)
            if bool(reuse.any()):
                assert self.votes is not None
                votes = torch.where(reuse[:, None], F.pad(self.votes, (0, stored - self.votes.shape[-1])), votes)
            fresh = ~reuse[:, None, None]
            self.prev_query = query if self.prev_query is None else torch.where(fresh, query, self.prev_query)
        self.reused += int(reuse.sum())
        self.selections += batch
        self.votes = votes
        return self.top_tokens(votes)

    def candidate_votes(self, query: torch.Tensor, scale: float) -> torch.Tensor:
        """``[B, S]`` votes of the candidates; sinks, the window and pads get none (attended anyway, or never)."""
        layout = self.layout()
        if layout is None:
            return qk_vote(query, self.keys, scale, self.selection_tiers() != 0, impl=self.config.impl)
        n_sink, window = layout  # the candidates are the contiguous slots between sinks and window
        stored = self.keys.shape[2]
        votes = torch.zeros(query.shape[0], stored, device=query.device)
        votes[:, n_sink : stored - window] = qk_vote(
            query, self.keys[:, :, n_sink : stored - window], scale, impl=self.config.impl
        )
        return votes

    def _reusable(self, query: torch.Tensor) -> torch.Tensor:
        """``[B]`` bool: rows whose query is similar enough to the one their current votes were computed for."""
        if self.prev_query is None or self.votes is None:
            return torch.zeros(query.shape[0], dtype=torch.bool, device=query.device)
        flat, prev = query.flatten(1).float(), self.prev_query.flatten(1).float()
        return F.cosine_similarity(flat, prev, dim=-1) >= self.config.similarity_threshold


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
