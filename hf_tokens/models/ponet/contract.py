"""The models-suite contract of PoNet (tests/suites/README.md): a tiny MLM encoder, Auto-registered."""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.models.ponet.configuration import PoNetConfig
from hf_tokens.models.ponet.modeling import PoNetForMaskedLM, register_ponet


def tiny_config(**overrides: Any) -> PoNetConfig:
    """A few-layer PoNet (hidden 64) for tests; ``overrides`` replace any setting."""
    settings: dict[str, Any] = {
        "vocab_size": 320,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "max_position_embeddings": 512,
        "segment_size": 8,
        "hidden_dropout_prob": 0.0,
        "pad_token_id": 0,
        **overrides,
    }
    return PoNetConfig(**settings)


def _inputs(config: PoNetConfig) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(2, config.vocab_size, (2, 21), generator=gen)
    mask = torch.ones_like(ids)
    ids[1, 15:], mask[1, 15:] = int(config.pad_token_id or 0), 0  # a right-padded row
    return {"input_ids": ids, "attention_mask": mask}


def contract() -> dict[str, Any]:
    register_ponet()
    return {
        "config_cls": PoNetConfig,
        "model_cls": PoNetForMaskedLM,
        "auto_class": "AutoModelForMaskedLM",
        "make_config": tiny_config,
        "make_inputs": _inputs,
        "generative": False,
    }
