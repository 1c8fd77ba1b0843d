"""Real models, tokenizers and text that install offline from the package registries (see ASSETS.md).

Nothing here downloads or installs anything. Each loader finds an installed package, builds a ready-to-load folder
once under :func:`cache_root` (``$HF_TOKENS_CACHE``), and loads from it afterwards::

    from hf_tokens.assets import load_model
    model, tokenizer = load_model("smollm2-135m")     # ~25 s the first time, ~1 s after

Known names: models ``smollm2-135m``, and opt-in (``HF_TOKENS_QWEN=1 bash setup.sh``) ``qwen2.5-coder-0.5b``,
``qwen2.5-coder-1.5b``; encoder ``minilm-l6``; tokenizers ``smollm2``, ``gpt2``, ``qwen3``, ``mistral``,
``minilm-l6``. Every built folder records the size and SHA-256 of its files; loads check it cheaply and rebuild a
folder whose content changed (:func:`check_folder`; ``hf-tokens assets status --verify`` hashes in full).
:func:`hub_name` maps a folder made here to its upstream Hub checkpoint (model cards use it as ``base_model``).
"""

from __future__ import annotations

from hf_tokens.assets._cache import (
    AssetNotInstalledError,
    build_once,
    cache_root,
    check_folder,
    invalidate,
    is_complete,
)
from hf_tokens.assets.loaders import (
    HUB_NAMES,
    MODELS,
    TOKENIZERS,
    asset_status,
    build_all,
    load_encoder,
    load_model,
    load_tokenizer,
    model_folder,
)
from hf_tokens.assets.models import hub_name

__all__ = [
    "HUB_NAMES",
    "MODELS",
    "TOKENIZERS",
    "AssetNotInstalledError",
    "asset_status",
    "build_all",
    "build_once",
    "cache_root",
    "check_folder",
    "hub_name",
    "invalidate",
    "is_complete",
    "load_encoder",
    "load_model",
    "load_tokenizer",
    "model_folder",
]
