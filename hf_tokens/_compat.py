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
