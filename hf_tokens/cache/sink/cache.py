"""StreamingLLM baseline (Xiao et al., 2023, arXiv 2309.17453): keep the first ``n_sink`` tokens and a recent window.

transformers 5 removed its ``SinkCache``; this is the equivalent on the shared budgeted layer. It is a baseline for
the score-based caches, not one of the library's papers, so it is not registered. Deviation: StreamingLLM re-assigns
positions inside the cache (rolling RoPE); like transformers' old ``SinkCache`` with a pre-rotated cache we keep each
token's original rotary position, which is what the budgeted base does for every method.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from hf_tokens.cache.base import BudgetConfig, BudgetedCache, BudgetedLayer


@dataclasses.dataclass
class SinkConfig(BudgetConfig):
    """Budget of the StreamingLLM baseline: ``n_sink`` attention-sink tokens plus the most recent tokens."""

    n_sink: int = dataclasses.field(default=4, metadata={"help": "first real tokens always kept (attention sinks)"})


class SinkLayer(BudgetedLayer):
    def score(self) -> torch.Tensor:
        return self.positions.float()  # most recent first; the base keeps the sinks


class SinkCache(BudgetedCache):
    """``SinkCache(model.config, budget=0.2, n_sink=4)``: attention sinks + the most recent tokens."""

    layer_cls: ClassVar[type[BudgetedLayer]] = SinkLayer
    config_cls: ClassVar[type[BudgetConfig]] = SinkConfig
