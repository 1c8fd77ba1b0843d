"""The models-suite contract of the byte/word models (tiny configs, byte inputs with several words)."""

from __future__ import annotations

from typing import Any

import torch

TEXTS = ("the cat sat on it", "a b\ncd efgh ijklmnopqrstuvwxyz!")


def byte_inputs(config: Any) -> dict[str, torch.Tensor]:
    """Two rows of the same length: UTF-8 bytes of short texts with spaces, newlines and one over-long word."""
    rows = [list(t.encode("utf-8")) for t in TEXTS]
    n = min(map(len, rows))
    ids = torch.tensor([r[:n] for r in rows])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


TINY = {"byte_dim": 16, "word_dim": 32, "heads": 2, "encoder_layers": 1, "backbone_layers": 1, "decoder_layers": 1,
        "max_word_bytes": 8, "max_words": 64}  # fmt: skip


def make_contract(config_cls: type, model_cls: type, **extra: Any) -> dict[str, Any]:
    tiny = {**TINY, **extra}
    return {
        "config_cls": config_cls,
        "model_cls": model_cls,
        "auto_class": "AutoModelForCausalLM",
        "make_config": lambda: config_cls(**tiny),
        "make_inputs": byte_inputs,
        "generative": True,
    }
