"""What PAWN's head training (:mod:`~hf_tokens.pipelines.pawn.train`) and the fine-tuned classifier baseline
(:mod:`~hf_tokens.pipelines.pawn.baseline`) share: the checks of their training settings and the epoch loop
(seeded shuffling into mini-batches, a CPU-time budget checked after each epoch, and optional model selection on a
validation split: the weights of the epoch with the lowest validation loss are the ones returned), and the checks of
their labelled data."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch


class TrainingSettings:
    """Mixin of a training-settings dataclass with the fields ``epochs``, ``lr``, ``weight_decay``, ``batch_size``,
    ``seed`` and ``time_budget_s``: ``__post_init__`` checks them (and the further ints ``POSITIVE_INTS``)."""

    POSITIVE_INTS: ClassVar[tuple[str, ...]] = ("epochs", "batch_size")
    epochs: int
    lr: float
    weight_decay: float
    batch_size: int
    seed: int
    time_budget_s: float | None

    def __post_init__(self) -> None:
        for name in self.POSITIVE_INTS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        for name in ("lr", "weight_decay"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        if self.lr == 0:
            raise ValueError("lr must be > 0")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"time_budget_s must be None or > 0, got {self.time_budget_s!r}")


def check_labels(items: Sequence[Any], labels: Sequence[int], items_name: str, labels_name: str) -> None:
    """``items`` and ``labels`` are non-empty, of equal length, and every label is 0 (human) or 1 (machine)."""
    if len(items) != len(labels) or not items:
        raise ValueError(
            f"{items_name} and {labels_name} must be non-empty and of equal length, got {len(items)} and {len(labels)}"
        )
    if set(int(x) for x in labels) - {0, 1}:
        raise ValueError(f"{labels_name} must be 0 (human) or 1 (machine)")


def check_validation(
    items: Sequence[Any] | None, labels: Sequence[int] | None, items_name: str, labels_name: str
) -> bool:
    """Whether a validation split was given: both or neither of ``items`` and ``labels``, checked as
    :func:`check_labels` checks the training data."""
    if (items is None) != (labels is None):
        raise ValueError(f"{items_name} and {labels_name} must be given together")
    if items is None or labels is None:
        return False
    check_labels(items, labels, items_name, labels_name)
    return True


def train_epochs(
    model: torch.nn.Module,
    cfg: TrainingSettings,
    n: int,
    step: Callable[[torch.Tensor], torch.Tensor],
    validate: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Train ``model`` for ``cfg.epochs`` passes over ``n`` items, each a shuffle (generator seeded with ``cfg.seed``)
    cut into batches of ``cfg.batch_size``; ``step(idx)`` takes one optimiser step on the items ``idx`` and returns
    its loss. Stops after the epoch that passes ``cfg.time_budget_s`` CPU seconds; the model ends in eval mode.
    With ``validate`` (called in eval mode after every epoch, returns a loss: lower is better) the model ends with
    the weights of its best epoch. Returns a log: ``loss`` (mean per epoch), ``steps``, ``cpu_seconds`` and, with
    ``validate``, ``val_loss`` (per epoch) and ``best_epoch`` (0-based)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    log: dict[str, Any] = {"loss": [], "steps": 0}
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    t0 = time.process_time()
    model.train()
    try:
        for epoch in range(cfg.epochs):
            order, running = torch.randperm(n, generator=gen), 0.0
            for s in range(0, n, cfg.batch_size):
                idx = order[s : s + cfg.batch_size]
                running += float(step(idx).detach()) * len(idx)
                log["steps"] += 1
            log["loss"].append(running / n)
            if validate is not None:
                model.eval()
                value = float(validate())
                model.train()
                log.setdefault("val_loss", []).append(value)
                if best is None or value < best[0]:
                    best = (value, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
            if cfg.time_budget_s is not None and time.process_time() - t0 > cfg.time_budget_s:
                break
    finally:
        model.eval()
    if best is not None:
        model.load_state_dict(best[2])
        log["best_epoch"] = best[1]
    log["cpu_seconds"] = time.process_time() - t0
    return log
