"""The PAWN head: per-token weights from hidden states and positions, a weighted sum of feature projections, and a
classifier, as a small ``PreTrainedModel`` (``save_pretrained`` / ``from_pretrained``).

For a text with scored positions ``t = 1..T``::

    w_t   = gate([Dropout(LayerNorm(h_t)) ; sinusoid(pos_t)])   # a scalar per token (MLP)
    a     = softmax(w) over the real tokens only                # padding gets weight 0
    v_t   = value((features_t - mean) / std)                    # MLP of the next-token-distribution metrics
    logit = classifier(sum_t a_t v_t)                           # > 0: machine-generated

``mean`` / ``std`` are the per-metric statistics of the training texts (fitted by
:func:`~hf_tokens.pipelines.pawn.train.train_pawn`, stored in the config), so every metric enters in its own units
and scale. The gate's last layer starts at zero: an untrained head weights every token equally, i.e. it starts as
the mean aggregation of the zero-shot methods that PAWN re-weights. ``hidden_dropout`` (default 0.7) drops the gate's
hidden-state inputs during training: with a 576-dimensional hidden state and a few hundred training texts the gate
otherwise memorises the training set within two epochs (best validation loss 0.60 without dropout vs 0.52 with 0.7,
mean of 3 seeds on the validation split of ``benchmarks/pawn.py``'s 598-text training set; 0.7 was chosen there,
from 0 / 0.3 / 0.5 / 0.7 / 0.85, by that validation loss; those trial runs also printed the test AUROCs).
``mean_pooling=True`` is the ablation the paper argues against: the gate is ignored and every real token weighs the
same (the rest of the head unchanged).

Deviations from the paper (arXiv 2501.03940), named: layer sizes, the sinusoidal position code, the hidden-state
dropout and the zero-initialised gate are this library's choices (small, for CPU); the features are the metrics of
:mod:`.features`, taken from the paper's description; the official code was not found in this library's search
index, so the exact metric list, layer sizes and pooling details were not checked against it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel

from hf_tokens.pipelines.pawn.features import FEATURE_NAMES


class PawnHeadConfig(PretrainedConfig):
    model_type = "hf_tokens_pawn_head"

    def __init__(
        self,
        hidden_size: int = 576,
        num_features: int = len(FEATURE_NAMES),
        position_dim: int = 16,
        gate_dim: int = 64,
        value_dim: int = 64,
        dropout: float = 0.1,
        hidden_dropout: float = 0.7,
        mean_pooling: bool = False,
        feature_mean: list[float] | None = None,
        feature_std: list[float] | None = None,
        base_model: str | None = None,
        **kwargs: Any,
    ) -> None:
        for name, v in (("hidden_size", hidden_size), ("num_features", num_features), ("gate_dim", gate_dim),
                        ("value_dim", value_dim)):  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if isinstance(position_dim, bool) or not isinstance(position_dim, int) or position_dim < 0 or position_dim % 2:
            raise ValueError(f"position_dim must be an even int >= 0, got {position_dim!r}")
        for name, v in (("dropout", dropout), ("hidden_dropout", hidden_dropout)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {v!r}")
        for name, stats in (("feature_mean", feature_mean), ("feature_std", feature_std)):
            if stats is not None and (
                len(stats) != num_features or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in stats)
            ):
                raise ValueError(
                    f"{name} must be None or {num_features} finite numbers (one per metric), got {stats!r}"
                )
        if feature_std is not None and min(feature_std) <= 0:
            raise ValueError(f"feature_std must be > 0 for every metric, got {feature_std!r}")
        self.hidden_size, self.num_features, self.position_dim = hidden_size, num_features, position_dim
        self.gate_dim, self.value_dim, self.dropout, self.base_model = gate_dim, value_dim, float(dropout), base_model
        if not isinstance(mean_pooling, bool):
            raise TypeError(f"mean_pooling must be a bool, got {type(mean_pooling).__name__}")
        self.hidden_dropout, self.mean_pooling = float(hidden_dropout), mean_pooling
        self.feature_mean = None if feature_mean is None else [float(x) for x in feature_mean]
        self.feature_std = None if feature_std is None else [float(x) for x in feature_std]
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
        self.hidden_dropout = nn.Dropout(c.hidden_dropout)
        self.gate = nn.Sequential(
            nn.Linear(c.hidden_size + c.position_dim, c.gate_dim), nn.GELU(), nn.Linear(c.gate_dim, 1)
        )
        self.value = nn.Sequential(
            nn.Linear(c.num_features, c.value_dim), nn.GELU(), nn.Linear(c.value_dim, c.value_dim)
        )
        self.classifier = nn.Sequential(
            nn.Dropout(c.dropout), nn.Linear(c.value_dim, c.value_dim), nn.GELU(), nn.Linear(c.value_dim, 1)
        )
        self.post_init()
        nn.init.zeros_(self.gate[-1].weight)  # uniform token weights until trained (the mean aggregation)

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
        x = torch.cat([self.hidden_dropout(self.norm(hidden.float())), sinusoid(positions, c.position_dim)], -1)
        w = self.gate(x).squeeze(-1)
        if c.mean_pooling:  # the ablation: every real token weighs the same
            w = torch.zeros_like(w)
        w = w.masked_fill(~mask, float("-inf"))
        a = torch.softmax(w, -1)
        mean = torch.tensor(c.feature_mean or [0.0] * c.num_features, device=features.device)
        std = torch.tensor(c.feature_std or [1.0] * c.num_features, device=features.device)
        v = self.value((features.float() - mean) / std)
        pooled = (a[..., None] * v).sum(1)
        return {"logits": self.classifier(pooled).squeeze(-1), "weights": a}
