"""H2O: Heavy-Hitter Oracle KV cache (arXiv 2306.14048)."""

from hf_tokens.cache.headlines import POOL_BENCHMARK, corpus_rows, speed_rows
from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "h2o",
    status="experimental",
    extension="cache",
    entry="hf_tokens.cache.h2o.cache:H2OCache",
    config="hf_tokens.cache.h2o.cache:H2OConfig",
    contract="hf_tokens.cache.h2o.cache:contract",
    headline=Headline(
        "ppl x{h.ratio:.3f} of full cache at {h.budget:.0%} KV budget over {h.texts} texts (kvpress's best press at "
        "equal cache bytes, ObservedAttention, x{kv.ratio:.3f}); x{h10.ratio:.3f} at {h10.budget:.0%} (4 texts); "
        "SmolLM2-135M, 2k ctx; worst corpus x{hw.ratio:.3f} ({hw.corpus}); repetitive structured text "
        "({hd.texts} texts each) x{hd.ratio:.3f} dpkg changelog, x{hi.ratio:.3f} ISO code tables; "
        "decodes {s8.ratio:.2f}x DynamicCache's tokens/s at {s8.context_tokens} tokens "
        "({s8.steps} steps, {s8.threads} thread)",
        file="bench_results/kv_cache_targets_pooled.json",
        rows={
            "h": {"method": "h2o@20%", "metric": "ppl"},
            "kv": {"method": "kvpress:ObservedAttention+decoding@20%", "metric": "ppl"},
            "h10": {"file": "bench_results/kv_cache.json", "method": "h2o@10%", "metric": "ppl"},
            **corpus_rows("h2o@20%"),
            **speed_rows("h2o@20%"),
        },
    ),
    benchmark=POOL_BENCHMARK,
    usage=(
        "from hf_tokens.cache.h2o import H2OCache\n"
        "cache = H2OCache(model.config, budget=0.2)  # keep 20% of the tokens: recent + heavy hitters\n"
        "out = model.generate(**inputs, cache=cache, max_new_tokens=64)  # past_key_values= before transformers 5.25"
    ),
)
__getattr__, __dir__ = lazy_exports(__name__, {"H2OCache": ".cache", "H2OConfig": ".cache"})
