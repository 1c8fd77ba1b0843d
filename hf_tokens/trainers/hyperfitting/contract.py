"""Trainers contract (tests/suites/README.md) of hyperfitting."""

from __future__ import annotations

from typing import Any


def contract() -> dict[str, Any]:
    from hf_tokens.trainers.hyperfitting.config import HyperfittingConfig
    from hf_tokens.trainers.hyperfitting.trainer import HyperfittingTrainer

    return {
        "config_cls": HyperfittingConfig,
        "trainer_cls": HyperfittingTrainer,
        "trl_base": "SFTTrainer",
        "valid_kwargs": {"target_loss": 0.05, "num_train_epochs": 3.0, "learning_rate": 1e-4, "bf16": False},
        "invalid_kwargs": [{"target_loss": -1.0}, {"target_loss": float("nan")}, {"num_train_epochs": 0}],
    }
