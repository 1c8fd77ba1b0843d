"""EMS: evict-then-merge head-wise KV cache compression with Global-Local scores (arXiv 2412.08521)."""

from hf_tokens.registry import lazy_exports, register

register(
    "ems",
    status="experimental",
    extension="cache",
    entry="hf_tokens.cache.ems.cache:EMSCache",
    config="hf_tokens.cache.ems.cache:EMSConfig",
    contract="hf_tokens.cache.ems.cache:contract",
    headline=(
        "ppl x1.122 of full cache at 20% KV budget over 31 texts (H2O x1.126); x1.157 at 10% (4 texts); cache "
        "bytes = budget; SmolLM2-135M, 2k ctx"
    ),
    benchmark=(
        "python benchmarks/kv_cache_pool.py bench_results/kv_cache_targets.json "
        "bench_results/kv_cache_targets_seed200.json  # the two 16-text runs: see its docstring"
    ),
    usage=(
        "from hf_tokens.cache.ems import EMSCache\n"
        "cache = EMSCache(model.config, budget=0.2)  # evicted tokens merge into similar kept ones\n"
        "out = model.generate(**inputs, past_key_values=cache, max_new_tokens=64)"
    ),
)
__getattr__, __dir__ = lazy_exports(__name__, {"EMSCache": ".cache", "EMSConfig": ".cache"})
