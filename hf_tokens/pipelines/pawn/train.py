"""Training the PAWN head on cached features (the LM is never run here: features come from disk once)."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hf_tokens.pipelines.pawn.features import TextFeatures, load_features
from hf_tokens.pipelines.pawn.head import PawnHead, PawnHeadConfig
from hf_tokens.pipelines.pawn.training import TrainingSettings, check_labels, check_validation, train_epochs


@dataclass
class PawnConfig(TrainingSettings):
    """Training of a PAWN head."""

    epochs: int = field(default=20, metadata={"help": "passes over the cached training texts"})
    lr: float = field(default=1e-3, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    batch_size: int = field(default=16, metadata={"help": "texts per step"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, shuffling and dropout"})
    time_budget_s: float | None = field(default=None, metadata={"help": "stop after this many CPU seconds"})


def collate(items: Sequence[TextFeatures]) -> dict[str, torch.Tensor]:
    """Right-pad a list of texts' features to ``[B, T, ...]`` with a mask of the real tokens."""
    if not items:
        raise ValueError("collate needs at least one text")
    width = max(len(f) for f in items)
    b, nf, h = len(items), items[0].features.shape[1], items[0].hidden.shape[1]
    out = {
        "features": torch.zeros(b, width, nf),
        "hidden": torch.zeros(b, width, h),
        "positions": torch.zeros(b, width, dtype=torch.long),
        "mask": torch.zeros(b, width, dtype=torch.bool),
    }
    for i, f in enumerate(items):
        n = len(f)
        out["features"][i, :n], out["hidden"][i, :n], out["positions"][i, :n] = f.features, f.hidden, f.positions
        out["mask"][i, :n] = True
    return out


def train_pawn(
    data: Sequence[TextFeatures | str | os.PathLike[str]],
    labels: Sequence[int],
    config: PawnConfig | None = None,
    head_config: PawnHeadConfig | None = None,
    *,
    val_data: Sequence[TextFeatures | str | os.PathLike[str]] | None = None,
    val_labels: Sequence[int] | None = None,
) -> tuple[PawnHead, dict[str, Any]]:
    """Train a head on cached texts (``TextFeatures`` or paths of :func:`cache_features` files; each file is read
    once) with labels 1 = machine, 0 = human. Unless ``head_config`` sets both, the head's ``feature_mean`` /
    ``feature_std`` are fitted on the training texts' tokens (the given config is not modified). With
    ``val_data``/``val_labels`` the head of the epoch with the lowest validation loss is returned (early stopping by
    model selection). Returns the head (eval mode) and a log (loss per epoch, steps, CPU seconds; ``val_loss`` and
    ``best_epoch`` with a validation split)."""
    cfg = config or PawnConfig()
    check_labels(data, labels, "data", "labels")
    items = [d if isinstance(d, TextFeatures) else load_features(d) for d in data]
    y = torch.tensor([float(x) for x in labels])
    validate = None
    if check_validation(val_data, val_labels, "val_data", "val_labels"):
        assert val_data is not None and val_labels is not None  # for the type checker
        val_batch = collate([d if isinstance(d, TextFeatures) else load_features(d) for d in val_data])
        val_y = torch.tensor([float(x) for x in val_labels])

        def validate() -> float:
            with torch.no_grad():
                return float(torch.nn.functional.binary_cross_entropy_with_logits(head(**val_batch)["logits"], val_y))

    hc = head_config or PawnHeadConfig(
        hidden_size=int(items[0].hidden.shape[1]), num_features=int(items[0].features.shape[1])
    )
    if hc.feature_mean is None or hc.feature_std is None:  # standardise each metric by the training texts
        feats = torch.cat([it.features.float() for it in items])
        hc = copy.deepcopy(hc)
        hc.feature_mean, hc.feature_std = feats.mean(0).tolist(), feats.std(0).clamp_min(1e-6).tolist()
    torch.manual_seed(cfg.seed)
    head = PawnHead(hc)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def step(idx: torch.Tensor) -> torch.Tensor:
        batch = collate([items[i] for i in idx.tolist()])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(**batch)["logits"], y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    return head, train_epochs(head, cfg, len(items), step, validate)


@torch.no_grad()
def predict(head: PawnHead, items: Sequence[TextFeatures], batch_size: int = 32) -> torch.Tensor:
    """``[N]`` logits (> 0: machine) of cached texts."""
    head.eval()
    outs = [head(**collate(items[s : s + batch_size]))["logits"] for s in range(0, len(items), batch_size)]
    return torch.cat(outs)
