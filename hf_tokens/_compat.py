"""Small shims over transformers releases within the supported range (5.x)."""

from __future__ import annotations

import functools
import inspect


def cache_kwarg(model: object = None) -> str:
    """The name ``generate``/``forward`` take a KV cache under: ``cache`` (transformers 5.25) or ``past_key_values``.

    With a ``model``, its ``forward`` signature decides where it names one of the two (a remote-code model written
    for an older release takes ``past_key_values`` only); a forward that names neither (``*args, **kwargs``
    wrappers such as PEFT's) and calls without a model get the installed release's name.
    """
    if model is not None:
        forward = getattr(model, "forward", None)
        for name in ("cache", "past_key_values"):
            if has_parameter(forward, name):
                return name
    return _release_cache_kwarg()


@functools.lru_cache(maxsize=1)
def _release_cache_kwarg() -> str:
    from transformers.generation import utils

    return "cache" if "cache" in getattr(utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


def has_parameter(fn: object, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


@functools.lru_cache(maxsize=1)
def no_checkpointing() -> dict[str, object]:
    """Trainer-argument kwargs that turn activation checkpointing off under the name this transformers supports.

    transformers 5.25 renamed ``gradient_checkpointing`` to ``activation_checkpointing`` (the old name warns) and TRL
    defaults the old one to True, so the new name is set and the old one cleared; older releases get the old name.
    """
    import dataclasses

    from transformers import TrainingArguments

    if "activation_checkpointing" in {f.name for f in dataclasses.fields(TrainingArguments)}:
        return {"activation_checkpointing": False, "gradient_checkpointing": None}
    return {"gradient_checkpointing": False}
