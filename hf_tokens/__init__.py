"""hf_tokens: papers on tokens in LLMs as drop-in Hugging Face components.

``import hf_tokens`` is light: it imports neither torch-heavy code nor trl/triton. Public names of implemented
methods (``hf_tokens.H2OCache``, ``hf_tokens.linear_cross_entropy`` ...) resolve lazily through the registry.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_SUBMODULES = ("assets", "benchmarking", "cli", "hub", "registry", "catalogue")
_HELPERS = {
    "get_method": "hf_tokens.registry:get",
    "list_methods": "hf_tokens.registry:all_specs",
    "load_model": "hf_tokens.assets:load_model",
    "load_tokenizer": "hf_tokens.assets:load_tokenizer",
    "save_for_hub": "hf_tokens.hub:save_for_hub",
    "push_to_hub": "hf_tokens.hub:push_to_hub",
    "render_card": "hf_tokens.hub:render_card",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"hf_tokens.{name}")
    from hf_tokens.registry import load_object, public_exports

    target = _HELPERS.get(name) or public_exports().get(name)
    if target is None:
        raise AttributeError(f"module 'hf_tokens' has no attribute {name!r}")
    return load_object(target)


def __dir__() -> list[str]:
    from hf_tokens.registry import public_exports

    return sorted({*globals(), *_SUBMODULES, *_HELPERS, *public_exports()})
