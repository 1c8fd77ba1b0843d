"""StreamingLLM sink + window cache (baseline; not one of the registered papers)."""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {"SinkCache": ".cache", "SinkConfig": ".cache"})
