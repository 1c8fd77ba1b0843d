"""What ``hf-tokens run --method byte-level-probs`` passes to ``generate``: the model's own tokenizer (never a test
fixture), with the default exact byte-level decoding."""

from __future__ import annotations

from typing import Any


def run_kwargs(model: Any, tokenizer: Any) -> dict[str, Any]:
    """``generate`` arguments of byte-level decoding for ``model`` and its ``tokenizer``."""
    return {"byte_tokenizer": tokenizer}
