"""Needle Threading (arXiv 2411.05000): single, multiple and conditional needles, threads and multi-threads in JSON
haystacks of key-value pairs, scored vs context length (in tokens and characters) and needle depth, for any HF causal
LM and any of the library's KV caches (``cache=`` factory)."""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "needle_threading": ".harness",
        "NeedleThreadingConfig": ".harness",
        "NeedleThreadingReport": ".harness",
        "build_example": ".tasks",
        "score": ".tasks",
        "TASKS": ".tasks",
    },
)
