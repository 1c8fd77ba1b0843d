"""Analysis over any Hugging Face causal LM: shared per-token statistics (:func:`token_stats`) and, in sub-packages,
the methods at the `analysis` extension point (functions returning JSON-serialisable reports); each sub-package is
one method and registers itself.

Importing this package is light (no torch, no transformers): the names below resolve on first use.
"""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "token_stats": ".token_stats",
        "TokenStats": ".token_stats_result",
        "LMHead": ".lm_head",
    },
)
