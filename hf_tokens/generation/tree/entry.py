"""The two ways a method's public ``generate`` is called, and how one function serves both.

1. ``model.generate(**inputs, custom_generate=token_recycling.generate, ...)`` — transformers prepares everything
   and calls ``generate(model, input_ids, logits_processor=..., stopping_criteria=..., generation_config=...,
   use_cache=..., **model_kwargs)``: the *decoding* call.
2. ``model.generate(**inputs, custom_generate="path/to/folder", trust_remote_code=True)`` (a Hub
   ``custom_generate/generate.py``), or calling ``token_recycling.generate(model, **inputs, max_new_tokens=...)``
   directly: the function receives the raw ``generate`` arguments and must prepare them itself. We hand them back to
   ``GenerationMixin.generate`` with the method's decoding function as the callable, so preparation is transformers'
   own (generation config, logits processors, stopping criteria, cache).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from transformers import GenerationConfig, GenerationMixin, LogitsProcessorList, StoppingCriteriaList


def is_decoding_call(
    input_ids: Any, logits_processor: Any, stopping_criteria: Any, generation_config: Any, kwargs: dict
) -> bool:
    """True when ``GenerationMixin.generate`` has prepared the arguments (convention 1 above)."""
    return (
        isinstance(input_ids, torch.Tensor)
        and isinstance(logits_processor, LogitsProcessorList)
        and isinstance(stopping_criteria, StoppingCriteriaList)
        and isinstance(generation_config, GenerationConfig)
        and "use_cache" in kwargs
        and "prefix_allowed_tokens_fn" not in kwargs
    )


def dispatch_generate(
    model: Any,
    decode: Callable[..., Any],
    *,
    input_ids: Any,
    logits_processor: Any,
    stopping_criteria: Any,
    generation_config: Any,
    synced_gpus: Any,
    streamer: Any,
    method_kwargs: dict[str, Any],
    kwargs: dict[str, Any],
) -> Any:
    """Run ``decode`` directly (decoding call) or through ``GenerationMixin.generate`` (raw call)."""
    if is_decoding_call(input_ids, logits_processor, stopping_criteria, generation_config, kwargs):
        return decode(
            model,
            input_ids,
            logits_processor=logits_processor,
            stopping_criteria=stopping_criteria,
            generation_config=generation_config,
            synced_gpus=synced_gpus,
            streamer=streamer,
            **method_kwargs,
            **kwargs,
        )
    kwargs = dict(kwargs)
    kwargs.pop("custom_generate", None)
    kwargs.pop("trust_remote_code", None)
    if input_ids is not None:
        kwargs["input_ids"] = input_ids
    return GenerationMixin.generate(
        model,
        generation_config=generation_config,
        logits_processor=logits_processor,
        stopping_criteria=stopping_criteria,
        synced_gpus=synced_gpus or None,
        streamer=streamer,
        custom_generate=decode,
        **{k: v for k, v in method_kwargs.items() if v is not None},
        **kwargs,
    )
