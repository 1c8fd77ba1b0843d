"""EMS: evict-then-merge head-wise KV cache compression with Global-Local scores (arXiv 2412.08521)."""

from hf_tokens.cache.headlines import POOL_BENCHMARK, corpus_rows, speed_rows
from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "ems",
    status="experimental",
    extension="cache",
    entry="hf_tokens.cache.ems.cache:EMSCache",
    config="hf_tokens.cache.ems.cache:EMSConfig",
    contract="hf_tokens.cache.ems.cache:contract",
    headline=Headline(
        "ppl x{e.ratio:.3f} of full cache at {e.budget:.0%} KV budget over {e.texts} texts (H2O x{h.ratio:.3f}); "
        "x{e10.ratio:.3f} at {e10.budget:.0%} (4 texts); cache bytes = budget; SmolLM2-135M, 2k ctx; worst corpus "
        "x{hw.ratio:.3f} ({hw.corpus}); repetitive structured text ({hd.texts} texts each) x{hd.ratio:.3f} "
        "dpkg changelog, x{hi.ratio:.3f} ISO code tables; "
        "decodes {s8.ratio:.2f}x DynamicCache's tokens/s at {s8.context_tokens} tokens "
        "({s8.steps} steps, {s8.threads} thread)",
        file="bench_results/kv_cache_targets_pooled.json",
        rows={
            "e": {"method": "ems@20%", "metric": "ppl"},
            "h": {"method": "h2o@20%", "metric": "ppl"},
            "e10": {"file": "bench_results/kv_cache.json", "method": "ems@10%", "metric": "ppl"},
            **corpus_rows("ems@20%"),
            **speed_rows("ems@20%"),
        },
    ),
    benchmark=POOL_BENCHMARK,
    usage=(
        "from hf_tokens.cache.ems import EMSCache\n"
        "cache = EMSCache(model.config, budget=0.2)  # evicted tokens merge into similar kept ones\n"
        "out = model.generate(**inputs, cache=cache, max_new_tokens=64)  # past_key_values= before transformers 5.25"
    ),
)
__getattr__, __dir__ = lazy_exports(__name__, {"EMSCache": ".cache", "EMSConfig": ".cache"})
