"""The public ``generate`` of byte-level decoding, for both ways transformers calls a ``custom_generate``.

``model.generate(..., custom_generate=byte_level.generate)`` calls it with prepared arguments; a Hub repository
exported by :func:`hf_tokens.hub.export_custom_generate` (or a direct ``byte_level.generate(model, **inputs, ...)``)
calls it with the raw ``generate`` arguments, which are handed back to transformers for preparation
(:func:`hf_tokens.generation.entry.make_custom_generate`). The decoding itself is
:func:`hf_tokens.generation.byte_level.decoding.generate`.
"""

from __future__ import annotations

from hf_tokens.generation.byte_level import decoding
from hf_tokens.generation.byte_level.config import ByteLevelConfig
from hf_tokens.generation.entry import make_custom_generate

generate = make_custom_generate(
    decoding.generate,
    ByteLevelConfig,
    "byte_level_config",
    options={"byte_lm": None, "byte_tokenizer": None, "prompt_boundary": "bytes", "max_new_bytes": None},
    module=__name__,
    doc="""Byte-level decoding: ``model.generate(**inputs, custom_generate=byte_level.generate, byte_tokenizer=tok)``.

    Pass ``byte_tokenizer=`` (the model's tokenizer) or a ready ``byte_lm=`` (a :class:`ByteLevelLM` or
    :class:`ByteLevelEnsemble`, reused across calls so its caches stay warm); ``byte_level_config`` (a
    :class:`ByteLevelConfig` or dict) configures the :class:`ByteLevelLM` built from ``byte_tokenizer``.
    ``prompt_boundary`` is ``"bytes"`` (exact byte-level greedy/sampling), ``"cover"`` or ``"bytes_then_tokens"``
    (see :mod:`hf_tokens.generation.byte_level.decoding`); ``max_new_tokens`` bounds the new tokens of the output,
    ``max_new_bytes`` (optional) the new bytes. The returned ids keep the prompt and decode to exactly the generated
    bytes.""",
)

__all__ = ["generate"]
