"""H2O: Heavy-Hitter Oracle KV cache (arXiv 2306.14048)."""

from hf_tokens.registry import lazy_exports, register

register(
    "h2o",
    status="experimental",
    extension="cache",
    entry="hf_tokens.cache.h2o.cache:H2OCache",
    config="hf_tokens.cache.h2o.cache:H2OConfig",
    contract="hf_tokens.cache.h2o.cache:contract",
    headline=(
        "ppl x1.126 of full cache at 20% KV budget over 31 texts (kvpress's best press at equal cache bytes, "
        "ObservedAttention, x1.134); x1.164 at 10% (4 texts); SmolLM2-135M, 2k ctx"
    ),
    benchmark=(
        "python benchmarks/kv_cache_pool.py bench_results/kv_cache_targets.json "
        "bench_results/kv_cache_targets_seed200.json  # the two 16-text runs: see its docstring"
    ),
    usage=(
        "from hf_tokens.cache.h2o import H2OCache\n"
        "cache = H2OCache(model.config, budget=0.2)  # keep 20% of the tokens: recent + heavy hitters\n"
        "out = model.generate(**inputs, past_key_values=cache, max_new_tokens=64)"
    ),
)
__getattr__, __dir__ = lazy_exports(__name__, {"H2OCache": ".cache", "H2OConfig": ".cache"})
