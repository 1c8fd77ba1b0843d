"""TokenSelect: per-head Q.K soft-voting token selection with a selection cache (arXiv 2411.02886)."""

from hf_tokens.cache.headlines import POOL_BENCHMARK, corpus_rows
from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "tokenselect",
    status="experimental",
    extension="cache",
    entry="hf_tokens.cache.tokenselect.cache:TokenSelectCache",
    config="hf_tokens.cache.tokenselect.cache:TokenSelectConfig",
    contract="hf_tokens.cache.tokenselect.cache:contract",
    headline=Headline(
        "ppl x{t.ratio:.3f} of full attending {t.budget:.0%} of tokens per query, {t.texts} texts "
        "(x{t50.ratio:.3f} at {t50.budget:.0%}, 4 texts); SmolLM2-135M, 2k ctx; worst corpus x{hw.ratio:.3f} "
        "({hw.corpus}); repetitive structured text ({hd.texts} texts each) x{hd.ratio:.3f} dpkg changelog, "
        "x{hi.ratio:.3f} ISO code tables",
        file="bench_results/kv_cache_targets_pooled.json",
        rows={
            "t": {"method": "tokenselect@20%", "metric": "ppl"},
            "t50": {"file": "bench_results/kv_cache.json", "method": "tokenselect@50%", "metric": "ppl"},
            **corpus_rows("tokenselect@20%"),
        },
    ),
    benchmark=POOL_BENCHMARK,
    usage=(
        "from hf_tokens.cache.tokenselect import TokenSelectCache\n"
        "cache = TokenSelectCache(model.config, budget=0.2)  # each query attends to 20% of the tokens\n"
        "out = model.generate(**inputs, cache=cache, max_new_tokens=64)  # past_key_values= before transformers 5.25"
    ),
)
__getattr__, __dir__ = lazy_exports(__name__, {"TokenSelectCache": ".cache", "TokenSelectConfig": ".cache"})
