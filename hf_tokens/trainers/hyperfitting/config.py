"""``HyperfittingConfig``: TRL's ``SFTConfig`` with the hyperfitting recipe's defaults and its stopping rule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from trl import SFTConfig


@dataclass
class HyperfittingConfig(SFTConfig):
    """Configuration of :class:`~hf_tokens.trainers.hyperfitting.HyperfittingTrainer`.

    Paper: "The Hyperfitting Phenomenon: Sharpening and Stabilizing LLMs for Open-Ended Text Generation" (Carlsson et
    al., arXiv 2412.04318): fine-tune a pre-trained LM on a small set of sequences until the training loss is near
    zero (the paper: 20 epochs, Adam, lr 1e-6, no weight decay, 2,000 sequences of 256 tokens). The defaults below are
    the paper's epochs, learning rate and weight decay; ``target_loss`` adds a stopping rule: training ends at the
    first logged loss at or below it (``None``: run every epoch, as the paper does). Every other field is TRL's
    ``SFTConfig``; on CPU pass ``bf16=False`` (TRL's default is bf16).
    """

    num_train_epochs: float = field(default=20.0, metadata={"help": "epochs over the small set (paper: 20)"})
    learning_rate: float = field(default=1e-6, metadata={"help": "Adam learning rate (paper: 1e-6)"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight decay (paper: none)"})
    target_loss: float | None = field(
        default=None,
        metadata={"help": "stop at the first logged training loss <= this (near zero, e.g. 0.05); None: all epochs"},
    )

    def __post_init__(self) -> None:
        t = self.target_loss
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0):
            raise ValueError(f"target_loss must be None or a finite number >= 0, got {t!r}")
        if not isinstance(self.num_train_epochs, (int, float)) or self.num_train_epochs <= 0:
            raise ValueError(f"num_train_epochs must be > 0, got {self.num_train_epochs!r}")
        if not isinstance(self.learning_rate, (int, float)) or self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        super().__post_init__()

    def to_dict(self) -> dict[str, Any]:
        """transformers' ``to_dict`` with ``pad_token`` kept: it hides every ``*_token`` field as ``"<PAD_TOKEN>"``
        (meant for secrets such as ``hub_token``), which would not round-trip (TRL's pad token is no secret)."""
        data = super().to_dict()
        data["pad_token"] = self.pad_token
        return data
