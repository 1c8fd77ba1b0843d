"""TidalDecode: position-persistent sparse attention with selection and re-selection layers (arXiv 2410.05076)."""

from hf_tokens.registry import lazy_exports, register

register(
    "tidaldecode",
    status="experimental",
    extension="cache",
    entry="hf_tokens.cache.tidaldecode.cache:TidalDecodeCache",
    config="hf_tokens.cache.tidaldecode.cache:TidalDecodeConfig",
    contract="hf_tokens.cache.tidaldecode.cache:contract",
    headline="ppl x1.038 of full with sparse layers attending 52% of tokens (x1.130 at 23%); SmolLM2-135M, 2k ctx",
    benchmark="python benchmarks/kv_cache.py --json bench_results/kv_cache.json",
    usage=(
        "from hf_tokens.cache.tidaldecode import TidalDecodeCache\n"
        "cache = TidalDecodeCache(model.config, budget=0.2)  # sparse layers attend to 20% of the tokens\n"
        "out = model.generate(**inputs, past_key_values=cache, max_new_tokens=64)"
    ),
)
__getattr__, __dir__ = lazy_exports(__name__, {"TidalDecodeCache": ".cache", "TidalDecodeConfig": ".cache"})
