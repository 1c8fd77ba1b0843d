"""Contracts of the ``trainers`` suite (tests/suites/README.md) for the two entropy-GRPO methods."""

from __future__ import annotations

from typing import Any

from hf_tokens.trainers.entropy_grpo.config import EntropyGRPOConfig
from hf_tokens.trainers.entropy_grpo.trainer import EntropyGRPOTrainer


def contract() -> dict[str, Any]:
    """Contract of ``high-entropy-minority``: the entropy token mask."""
    base = {"bf16": False, "report_to": "none"}
    return {
        "config_cls": EntropyGRPOConfig,
        "trainer_cls": EntropyGRPOTrainer,
        "trl_base": "GRPOTrainer",
        "valid_kwargs": {**base, "top_entropy_ratio": 0.2},
        "invalid_kwargs": [
            {**base, "top_entropy_ratio": 0.0},
            {**base, "top_entropy_ratio": 1.5},
            {**base, "top_entropy_ratio": 0.2, "top_entropy_quantile": 0.5},
            {**base, "entropy_mask_complement": True},
            {**base, "cov_penalty": "clip"},
            {**base, "clip_cov_ratio": -2e-4},
            {**base, "kl_cov_ratio": -1.0},
            {**base, "clip_cov_low": 5.0, "clip_cov_high": 1.0},
            {**base, "kl_cov_coef": -1.0},
            {**base, "logprob_impl": "cuda"},
        ],
    }


def kl_cov_contract() -> dict[str, Any]:
    """Contract of ``entropy-mechanism``: the same trainer with Clip-Cov / KL-Cov settings."""
    data = contract()
    base = {"bf16": False, "report_to": "none"}
    data["valid_kwargs"] = {**base, "cov_penalty": "kl_cov", "num_iterations": 2}
    return data
