"""Contract of the generation suite (tests/suites/README.md) for byte-level decoding."""

from __future__ import annotations

from typing import Any


def _make_kwargs(model: Any) -> dict[str, Any]:
    """The tiny suite models share the tiny tokenizer's vocabulary; byte-level decoding needs that tokenizer."""
    from hf_tokens.testing import tiny_tokenizer

    return {"byte_tokenizer": tiny_tokenizer(model.config.vocab_size)}


def contract() -> dict[str, Any]:
    from hf_tokens.generation.byte_level.custom_generate import generate

    # not lossless: byte-level greedy picks the most probable next *byte* (summing over tokenizations), which may
    # continue differently from token-level greedy
    return {"generate": generate, "make_kwargs": _make_kwargs, "lossless": False}
