"""TokenSelect: per-head Q.K soft-voting token selection with a selection cache (arXiv 2411.02886)."""

from hf_tokens.registry import lazy_exports, register

register(
    "tokenselect",
    status="experimental",
    extension="cache",
    entry="hf_tokens.cache.tokenselect.cache:TokenSelectCache",
    config="hf_tokens.cache.tokenselect.cache:TokenSelectConfig",
    contract="hf_tokens.cache.tokenselect.cache:contract",
    headline=(
        "ppl x1.010 of full attending 20% of tokens per query, 31 texts (x1.002 at 50%, 4 texts); SmolLM2-135M, 2k ctx"
    ),
    benchmark=(
        "python benchmarks/kv_cache_pool.py bench_results/kv_cache_targets.json "
        "bench_results/kv_cache_targets_seed200.json  # the two 16-text runs: see its docstring"
    ),
    usage=(
        "from hf_tokens.cache.tokenselect import TokenSelectCache\n"
        "cache = TokenSelectCache(model.config, budget=0.2)  # each query attends to 20% of the tokens\n"
        "out = model.generate(**inputs, past_key_values=cache, max_new_tokens=64)"
    ),
)
__getattr__, __dir__ = lazy_exports(__name__, {"TokenSelectCache": ".cache", "TokenSelectConfig": ".cache"})
