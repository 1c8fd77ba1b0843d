"""Real models, tokenizers and text that install offline from the package registries (see ASSETS.md).

Nothing here downloads or installs anything. Each loader finds an installed package, builds a ready-to-load folder
once under :func:`cache_root` (``$HF_TOKENS_CACHE``), and loads from it afterwards::

    from hf_tokens.assets import load_model
    model, tokenizer = load_model("smollm2-135m")     # ~25 s the first time, ~1 s after

Known names: models ``smollm2-135m``; encoder ``minilm-l6``; tokenizers ``smollm2``, ``gpt2``, ``qwen3``,
``mistral``, ``minilm-l6``.
"""

from __future__ import annotations

from hf_tokens.assets._cache import AssetNotInstalledError, build_once, cache_root, invalidate, is_complete
from hf_tokens.assets.loaders import (
    MODELS,
    TOKENIZERS,
    asset_status,
    build_all,
    load_encoder,
    load_model,
    load_tokenizer,
    model_folder,
)

__all__ = [
    "MODELS",
    "TOKENIZERS",
    "AssetNotInstalledError",
    "asset_status",
    "build_all",
    "build_once",
    "cache_root",
    "invalidate",
    "is_complete",
    "load_encoder",
    "load_model",
    "load_tokenizer",
    "model_folder",
]
