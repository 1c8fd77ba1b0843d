"""The public ``generate`` of byte-level decoding, for both ways transformers calls a ``custom_generate``.

``model.generate(..., custom_generate=byte_level.generate)`` calls it with prepared arguments; a Hub repository
exported by :func:`hf_tokens.hub.export_custom_generate` (or a direct ``byte_level.generate(model, **inputs, ...)``)
calls it with the raw ``generate`` arguments, which are handed back to transformers for preparation
(:func:`hf_tokens.generation.tree.entry.dispatch_generate`). The decoding itself is
:func:`hf_tokens.generation.byte_level.decoding.generate`.
"""

from __future__ import annotations

from typing import Any

from hf_tokens.generation.byte_level import decoding
from hf_tokens.generation.byte_level.config import ByteLevelConfig


def generate(
    model: Any,
    input_ids: Any = None,
    logits_processor: Any = None,
    stopping_criteria: Any = None,
    generation_config: Any = None,
    synced_gpus: Any = None,
    streamer: Any = None,
    byte_lm: Any = None,
    byte_tokenizer: Any = None,
    byte_level_config: ByteLevelConfig | None = None,
    prompt_boundary: str = "bytes",
    max_new_bytes: int | None = None,
    **kwargs: Any,
) -> Any:
    """Byte-level decoding (see :mod:`hf_tokens.generation.byte_level.decoding` for the arguments)."""
    from hf_tokens.generation.tree.entry import dispatch_generate

    if input_ids is None and "inputs" in kwargs:
        input_ids = kwargs.pop("inputs")
    method_kwargs = {
        "byte_lm": byte_lm,
        "byte_tokenizer": byte_tokenizer,
        "byte_level_config": byte_level_config,
        "prompt_boundary": prompt_boundary,
        "max_new_bytes": max_new_bytes,
    }
    return dispatch_generate(
        model,
        decoding.generate,
        input_ids=input_ids,
        logits_processor=logits_processor,
        stopping_criteria=stopping_criteria,
        generation_config=generation_config,
        synced_gpus=synced_gpus,
        streamer=streamer,
        method_kwargs=method_kwargs,
        kwargs=kwargs,
    )


__all__ = ["generate"]
