"""``LandmarkCache``: keeps every block and retrieves, per query head, the top-k blocks through the landmark scores.

Landmark attention at inference (Mohtashami & Jaggi, arXiv 2305.16300) as a ``transformers.Cache`` built on the
budgeted-cache machinery (:mod:`hf_tokens.cache.base`). The model keeps its default ``sdpa`` attention: each layer
observes the sdpa call its keys enter (:func:`hf_tokens.attention.observe_keys`) and returns the landmark attention
output instead:

* a decoding step (one query per row) scores the query against the landmark keys only, keeps the ``top_k`` highest
  per query head, and reads those blocks plus its own block
  (:func:`~hf_tokens.attention.landmark.retrieval.retrieval_step`): at most
  ``period + top_k * block_size + S / period`` keys per head however long the context;
* several queries (a prefill or a chunk of text) run the grouped softmax with the same per-query top-k retrieval on
  the materialised weights (:func:`~hf_tokens.attention.landmark.reference.landmark_attention_reference`), in
  blocks of query rows so a long prefill never holds a ``[q, S]`` matrix larger than ``max_elements``.

``top_k=0`` attends every block (the full grouped softmax). The cache stores the layout the model was fine-tuned on
(a landmark after every ``block_size`` regular tokens); :func:`~hf_tokens.attention.landmark.generation.
enable_landmark_insertion` inserts the landmarks into the model's input, so ``model.generate`` works unchanged::

    enable_landmark_insertion(model)  # once
    model.generate(**inputs, cache=LandmarkCache(model.config, top_k=4), max_new_tokens=32)

Deviations from the paper: blocks stay in the cache's memory (no offloading to CPU, no separate landmark index:
the landmark keys are a strided view of the cache); keys keep the RoPE of their true positions (the paper re-encodes
retrieved blocks at positions just before the current block so that a model never sees distances beyond its
training length; SmolLM2 was pre-trained at 8k positions); the prefill retrieves per query like decoding (the
official code attends a chunk's own blocks fully and retrieves only from earlier chunks).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch

from hf_tokens.attention.hooks import AttentionCall
from hf_tokens.attention.landmark.config import LandmarkAttentionConfig
from hf_tokens.attention.landmark.passkey import attended_per_step
from hf_tokens.attention.landmark.reference import landmark_attention_reference
from hf_tokens.cache.base import BudgetConfig, BudgetedCache, BudgetedLayer


@dataclasses.dataclass
class LandmarkCacheConfig(BudgetConfig):
    """Landmark retrieval settings (arXiv 2305.16300); ``None`` takes the model config's ``landmark_*`` value.

    ``budget`` must stay 1.0: the cache keeps every block (retrieval bounds the keys a step reads, not memory)."""

    budget: float | int = dataclasses.field(default=1.0, metadata={"help": "must be 1.0: every block is kept"})
    top_k: int | None = dataclasses.field(
        default=None, metadata={"help": "blocks retrieved per query head (the paper: 4, LLaMA 7B: 5); 0: all"}
    )
    block_size: int | None = dataclasses.field(
        default=None, metadata={"help": "regular tokens per block; must equal the model's landmark_block_size"}
    )
    max_elements: int = dataclasses.field(
        default=2**24, metadata={"help": "largest [heads x rows x keys] weight block of a multi-token step"}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.budget != 1.0 or self.window or self.n_sink:
            raise ValueError("LandmarkCache keeps every block: leave budget=1.0, window=0, n_sink=0")
        for name in ("top_k", "block_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"{name} must be an int or None, got {value!r}")
        if isinstance(self.max_elements, bool) or not isinstance(self.max_elements, int) or self.max_elements < 1:
            raise ValueError(f"max_elements must be an int >= 1, got {self.max_elements!r}")


class LandmarkLayer(BudgetedLayer):
    """One decoder layer's blocks; :meth:`attention_output` is landmark attention with retrieval."""

    config: LandmarkCacheConfig
    cache: LandmarkCache

    @staticmethod
    def growth(needed: int) -> int:
        return max(64, needed // 8)

    def compress(self) -> None:  # every block is kept
        return None

    def attention_output(self, call: AttentionCall) -> Any:
        landmark = self.cache.landmark
        batch, _, stored, dim = self.keys.shape
        q_len = call.query_len
        query = call.grouped_query().reshape(batch, -1, q_len, dim)  # [B, H, q, D]
        mask = call.additive_mask() > float("-inf")  # [B or 1, 1, q, S] bool
        mask = mask.expand(batch, -1, -1, -1)
        rows = max(1, self.cache.max_elements // max(1, query.shape[1] * stored)) if q_len > 1 else 1
        outs = []
        for start in range(0, q_len, rows):
            end = min(q_len, start + rows)
            keep = stored - q_len + end  # the keys up to this block's last query (later ones are not visible)
            outs.append(
                landmark_attention_reference(
                    query[:, :, start:end],
                    self.keys[:, :, :keep],
                    self.values[:, :, :keep],
                    mask[:, :, start:end, :keep],
                    scaling=call.scale,
                    period=landmark.period,
                    top_k=landmark.top_k,
                )
            )
        if q_len == 1:
            self.cache.count_step(stored)
        out = torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]
        return out.reshape(*call.query.shape[:-1], out.shape[-1])


class LandmarkCache(BudgetedCache):
    """``LandmarkCache(model.config, top_k=4)``: every block kept, each query head attends its own block and the
    ``top_k`` blocks whose landmarks score highest. Use with :func:`enable_landmark_insertion` for ``generate``."""

    layer_cls: ClassVar[type[BudgetedLayer]] = LandmarkLayer
    config_cls: ClassVar[type[BudgetConfig]] = LandmarkCacheConfig
    budget_config: LandmarkCacheConfig
    pending_keep: torch.Tensor | None = None  # set by the insertion hook: the logits to return for this call

    def setup(self) -> None:
        cfg = self.budget_config
        model = self.model_config
        if not hasattr(model, "landmark_block_size"):
            raise ValueError(
                "LandmarkCache: the model config has no landmark_block_size: fine-tune the model with landmarks "
                "first (hf_tokens.attention.landmark.finetune) or apply a LandmarkAttentionConfig"
            )
        block_size = int(model.landmark_block_size)
        if cfg.block_size is not None and cfg.block_size != block_size:
            raise ValueError(
                f"block_size={cfg.block_size} differs from the model's landmark_block_size={block_size}: the "
                "landmarks must sit where the model was trained to put them"
            )
        top_k = cfg.top_k if cfg.top_k is not None else int(getattr(model, "landmark_top_k", 0))
        self.landmark = LandmarkAttentionConfig(block_size=block_size, top_k=top_k)
        self.max_elements = cfg.max_elements
        self.token_id: int | None = getattr(model, "landmark_token_id", None)
        self.steps = 0
        self.attended = 0.0
        self.context = 0.0

    def count_step(self, stored: int) -> None:
        """Record one decoding step of one layer: keys its query reads per head vs the keys stored."""
        self.steps += 1
        self.attended += attended_per_step(stored, self.landmark.block_size, self.landmark.top_k)
        self.context += stored

    @property
    def attended_fraction(self) -> float:
        """Mean share of the stored keys a decoding query read (own block + landmarks scored + retrieved blocks)."""
        return self.attended / self.context if self.context else 1.0

    @property
    def regular_tokens(self) -> int:
        """Regular (non-landmark) tokens seen: the cache holds a landmark after every ``block_size`` of them."""
        seen = self.get_seq_length()
        return seen - seen // self.landmark.period
