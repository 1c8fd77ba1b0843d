"""The PAWN head: per-token weights from hidden states and positions, a weighted sum of feature projections, and a
classifier, as a small ``PreTrainedModel`` (``save_pretrained`` / ``from_pretrained``).

For a text with scored positions ``t = 1..T``::

    w_t   = gate([LayerNorm(h_t) ; sinusoid(pos_t)])          # a scalar per token (MLP)
    a     = softmax(w) over the real tokens only              # padding gets weight 0
    v_t   = value(features_t)                                 # MLP of the next-token-distribution metrics
    logit = classifier(sum_t a_t v_t)                         # > 0: machine-generated

Deviations from the paper (arXiv 2501.03940), named: layer sizes and the sinusoidal position code are this
library's choices (small, for CPU); the features are the three metrics of :mod:`.features` (observed log-prob,
top-1 log-prob, entropy), taken from the paper's description; the official code was not found in this session's
search index, so the exact metric list, layer sizes and pooling details were not checked against it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel


class PawnHeadConfig(PretrainedConfig):
    model_type = "hf_tokens_pawn_head"

    def __init__(
        self,
        hidden_size: int = 576,
        num_features: int = 3,
        position_dim: int = 16,
        gate_dim: int = 64,
        value_dim: int = 64,
        dropout: float = 0.1,
        base_model: str | None = None,
        **kwargs: Any,
    ) -> None:
        for name, v in (("hidden_size", hidden_size), ("num_features", num_features), ("gate_dim", gate_dim),
                        ("value_dim", value_dim)):  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if isinstance(position_dim, bool) or not isinstance(position_dim, int) or position_dim < 0 or position_dim % 2:
            raise ValueError(f"position_dim must be an even int >= 0, got {position_dim!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.hidden_size, self.num_features, self.position_dim = hidden_size, num_features, position_dim
        self.gate_dim, self.value_dim, self.dropout, self.base_model = gate_dim, value_dim, float(dropout), base_model
        super().__init__(**kwargs)


def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """``[..., dim]`` sine/cosine code of integer positions (the Transformer's, base 10000)."""
    if dim == 0:
        return positions.new_zeros((*positions.shape, 0), dtype=torch.float32)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    ang = positions.float()[..., None] * freq.to(positions.device)
    return torch.cat([ang.sin(), ang.cos()], -1)


class PawnHead(PreTrainedModel):
    """See the module docstring. ``forward(features [B,T,F], hidden [B,T,H], positions [B,T], mask [B,T])``
    returns ``{"logits": [B], "weights": [B, T]}`` (weights sum to 1 over each row's real tokens)."""

    config_class = PawnHeadConfig
    base_model_prefix = "pawn"

    def __init__(self, config: PawnHeadConfig) -> None:
        super().__init__(config)
        c = config
        self.norm = nn.LayerNorm(c.hidden_size)
        self.gate = nn.Sequential(
            nn.Linear(c.hidden_size + c.position_dim, c.gate_dim), nn.GELU(), nn.Linear(c.gate_dim, 1)
        )
        self.feature_norm = nn.LayerNorm(c.num_features)
        self.value = nn.Sequential(
            nn.Linear(c.num_features, c.value_dim), nn.GELU(), nn.Linear(c.value_dim, c.value_dim)
        )
        self.classifier = nn.Sequential(
            nn.Dropout(c.dropout), nn.Linear(c.value_dim, c.value_dim), nn.GELU(), nn.Linear(c.value_dim, 1)
        )
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(
        self, features: torch.Tensor, hidden: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        c = self.config
        if hidden.shape[-1] != c.hidden_size:
            raise ValueError(
                f"hidden states have size {hidden.shape[-1]}, but this PAWN head was trained on a base model with "
                f"hidden size {c.hidden_size} (base_model={c.base_model!r}): use a head trained for this model"
            )
        if features.shape[-1] != c.num_features:
            raise ValueError(
                f"features have {features.shape[-1]} metrics per token, the head expects {c.num_features}"
            )
        mask = mask.bool()
        if not bool(mask.any(1).all()):
            raise ValueError("every row needs at least one real (scored) token")
        x = torch.cat([self.norm(hidden.float()), sinusoid(positions, c.position_dim)], -1)
        w = self.gate(x).squeeze(-1).masked_fill(~mask, float("-inf"))
        a = torch.softmax(w, -1)
        v = self.value(self.feature_norm(features.float()))
        pooled = (a[..., None] * v).sum(1)
        return {"logits": self.classifier(pooled).squeeze(-1), "weights": a}
