"""Small shims over transformers releases within the supported range (5.x)."""

from __future__ import annotations

import functools
import inspect


@functools.lru_cache(maxsize=1)
def cache_kwarg() -> str:
    """The name ``generate``/``forward`` take a cache under: ``cache`` (newer 5.x) or ``past_key_values``."""
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
