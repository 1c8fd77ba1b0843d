"""TidalDecode: position-persistent sparse attention with selection and re-selection layers (arXiv 2410.05076)."""

from hf_tokens.cache.headlines import corpus_rows
from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "tidaldecode",
    status="experimental",
    extension="cache",
    entry="hf_tokens.cache.tidaldecode.cache:TidalDecodeCache",
    config="hf_tokens.cache.tidaldecode.cache:TidalDecodeConfig",
    contract="hf_tokens.cache.tidaldecode.cache:contract",
    headline=Headline(
        "ppl x{p50.ratio:.3f} of full with sparse layers attending {a50.value:.0%} of tokens (x{p20.ratio:.3f} at "
        "{a20.value:.0%}); SmolLM2-135M, 2k ctx; repetitive structured text at 20% ({hd.texts} texts each) "
        "x{hd.ratio:.3f} dpkg changelog, x{hi.ratio:.3f} ISO code tables",
        file="bench_results/kv_cache.json",
        rows={
            "p50": {"method": "tidaldecode@50%", "metric": "ppl"},
            "a50": {"method": "tidaldecode@50%", "metric": "attended_fraction"},
            "p20": {"method": "tidaldecode@20%", "metric": "ppl"},
            "a20": {"method": "tidaldecode@20%", "metric": "attended_fraction"},
            **corpus_rows("tidaldecode@20%", worst=False),
        },
    ),
    benchmark="python benchmarks/kv_cache.py --json bench_results/kv_cache.json",
    usage=(
        "from hf_tokens.cache.tidaldecode import TidalDecodeCache\n"
        "cache = TidalDecodeCache(model.config, budget=0.2)  # sparse layers attend to 20% of the tokens\n"
        "out = model.generate(**inputs, cache=cache, max_new_tokens=64)  # past_key_values= before transformers 5.25"
    ),
)
__getattr__, __dir__ = lazy_exports(__name__, {"TidalDecodeCache": ".cache", "TidalDecodeConfig": ".cache"})
