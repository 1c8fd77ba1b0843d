"""SkipDecode's exit schedule and the forward pass that follows it (shared by decoding and fine-tuning).

A schedule gives every *sequence position* (column of the batch) a budget of active layers: the ``warmup_layers``
bottom layers always run, then the token jumps to the top ``budget - warmup_layers`` layers; the layers in between
are skipped. Budgets never increase with the position, so a layer a token skips is skipped by every later token too.

Key/value cache, exactly: layer ``l`` of the cache holds the positions that ran layer ``l``. Because budgets are
monotone, those are always a prefix ``0 .. n_l - 1`` of the sequence, and a later token that runs layer ``l`` has
every earlier position's key/value there. The skipped layers' entries of a token are therefore **not filled at all**
— no copy of a lower layer's state, no recomputation: no later token ever reads them, since it skips those layers
too (the paper's argument). Each layer of a ``DynamicCache`` just stops growing once the schedule skips it.
The same holds inside one forward over many positions (prefill, or a training sequence): layer ``l`` runs on the
prefix of positions that have it active, the others carry their hidden state unchanged until their first top layer.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from hf_tokens._compat import cache_kwarg
from hf_tokens.generation.entry import require_ints


@dataclass
class SkipDecodeConfig:
    """Settings of SkipDecode (Del Corro et al., arXiv:2307.02628): a linear, monotonically decreasing budget of
    active layers per position after the prompt, shared by every row of the batch."""

    max_layers: int | None = field(
        default=None, metadata={"help": "active layers at the first scheduled position (None: all of the model's)"}
    )
    min_layers: int = field(default=8, metadata={"help": "active layers from position decay_tokens on"})
    decay_tokens: int = field(default=128, metadata={"help": "positions over which the budget falls linearly"})
    warmup_layers: int = field(default=1, metadata={"help": "bottom layers every token runs before the skip"})

    def __post_init__(self) -> None:
        require_ints(self, ("min_layers", "decay_tokens"))
        require_ints(self, ("warmup_layers",), minimum=0)
        if self.max_layers is not None:
            require_ints(self, ("max_layers",))
            if self.max_layers < self.min_layers:
                raise ValueError(f"max_layers ({self.max_layers}) must be >= min_layers ({self.min_layers})")
        if self.min_layers <= self.warmup_layers:
            raise ValueError(
                f"min_layers ({self.min_layers}) must exceed warmup_layers ({self.warmup_layers}): every token needs "
                "at least one top layer after the warm-up"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, num_layers: int) -> None:
        """ValueError if the schedule names layers a model with ``num_layers`` layers does not have."""
        top = self.max_layers if self.max_layers is not None else num_layers
        if top > num_layers or self.min_layers > num_layers:
            raise ValueError(
                f"the schedule needs up to {max(top, self.min_layers)} active layers but the model has {num_layers}; "
                f"use max_layers/min_layers <= {num_layers}"
            )

    def budget(self, index: int, num_layers: int) -> int:
        """Active layers of the ``index``-th scheduled position (0 = first after the prompt); negative: all."""
        top = self.max_layers if self.max_layers is not None else num_layers
        if index < 0:
            return num_layers
        step = min(index, self.decay_tokens)
        return top - ((top - self.min_layers) * step) // self.decay_tokens

    def first_top_layer(self, index: int, num_layers: int) -> int:
        """The first layer after the skipped ones for that position (``warmup_layers`` when nothing is skipped)."""
        budget = self.budget(index, num_layers)
        if budget >= num_layers:
            return 0
        return num_layers - (budget - self.warmup_layers)

    def mean_budget(self, new_tokens: int, num_layers: int) -> float:
        """Mean active layers over ``new_tokens`` decoded tokens (the first is predicted from the prompt: all)."""
        if new_tokens <= 0:
            return float(num_layers)
        budgets = [num_layers] + [self.budget(i, num_layers) for i in range(new_tokens - 1)]
        return sum(budgets) / len(budgets)


def decoder_parts(model: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(embed_tokens, rotary_emb, layers, norm, lm_head) of a Llama-style causal LM; TypeError for other classes."""
    body = getattr(model, "model", None)
    names = ("embed_tokens", "rotary_emb", "layers", "norm")
    if body is None or not all(hasattr(body, n) for n in names) or getattr(model, "lm_head", None) is None:
        raise TypeError(
            f"SkipDecode runs Llama-style decoders (model.model.embed_tokens/rotary_emb/layers/norm and lm_head: "
            f"Llama, Qwen2, Mistral, SmolLM2); {type(model).__name__} has no such layers"
        )
    return body.embed_tokens, body.rotary_emb, body.layers, body.norm, model.lm_head


def additive_mask(padding: torch.Tensor, start: int, length: int, dtype: torch.dtype) -> torch.Tensor:
    """``[B, 1, length, start + length]`` additive mask: query column ``start + i`` sees keys ``<= start + i`` that are
    not padding (``padding`` is the 2D ``attention_mask`` over ``start + length`` columns)."""
    device = padding.device
    q = torch.arange(start, start + length, device=device).view(-1, 1)
    k = torch.arange(start + length, device=device).view(1, -1)
    allowed = (k <= q).view(1, 1, length, -1) & padding[:, None, None, : start + length].bool()
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(allowed, zero, torch.finfo(dtype).min)


def skip_forward(
    model: Any,
    input_ids: torch.Tensor,
    first_top: list[int],
    *,
    warmup_layers: int,
    start: int = 0,
    padding: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    cache: Any = None,
    last_only: bool = False,
) -> torch.Tensor:
    """Logits ``[B, q, V]`` of ``input_ids`` (columns ``start .. start + q - 1``) when column ``j`` runs layers
    ``[0, warmup_layers)`` and ``[first_top[j], L)``. ``first_top`` must be non-decreasing (monotone schedule);
    ``cache`` (a ``DynamicCache``) holds the earlier columns as described in the module docstring; ``last_only``
    returns the last column's logits alone (``[B, 1, V]``, what decoding needs)."""
    embed, rotary, layers, norm, head = decoder_parts(model)
    batch, q = input_ids.shape
    if len(first_top) != q or any(a > b for a, b in itertools.pairwise(first_top)):
        raise ValueError("first_top must give one non-decreasing first top layer per column")
    if padding is None:
        padding = torch.ones((batch, start + q), dtype=torch.long, device=input_ids.device)
    if position_ids is None:
        position_ids = torch.arange(start, start + q, device=input_ids.device).expand(batch, -1)
    hidden = embed(input_ids)
    cos, sin = rotary(hidden, position_ids=position_ids)
    mask = additive_mask(padding, start, q, hidden.dtype)
    for index, layer in enumerate(layers):
        k = q if index < warmup_layers else sum(1 for f in first_top if f <= index)
        if k == 0:
            continue
        out = layer(
            hidden[:, :k],
            attention_mask=mask[:, :, :k, : start + k],
            position_ids=position_ids[:, :k],
            use_cache=cache is not None,
            **{cache_kwarg(): cache},
            position_embeddings=(cos[:, :k], sin[:, :k]),
        )
        out = out[0] if isinstance(out, tuple) else out
        hidden = out if k == q else torch.cat([out, hidden[:, k:]], dim=1)
    return head(norm(hidden[:, -1:] if last_only else hidden))
