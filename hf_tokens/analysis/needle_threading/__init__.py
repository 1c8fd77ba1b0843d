"""Needle Threading (arXiv 2411.05000): single, multiple and conditional needles, threads and multi-threads in JSON
haystacks of key-value pairs, scored vs context length (in tokens and characters) and needle depth, for any HF causal
LM and any of the library's KV caches (``cache=`` factory)."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "needle-threading",
    status="experimental",
    extension="analysis",
    entry="hf_tokens.analysis.needle_threading.harness:needle_threading",
    config="hf_tokens.analysis.needle_threading.harness:NeedleThreadingConfig",
    contract="hf_tokens.analysis.needle_threading.harness:contract",
    headline=Headline(
        "SmolLM2-135M finds {s.pct.value:.0f}% of single needles at {s.tokens} tokens ({s.context_chars:.0f} "
        "characters) and follows {t.pct.value:.0f}% of 3-hop threads there; all five tasks: {a.pct.value:.0f}% at "
        "{a.tokens} and {g.pct.value:.0f}% at {g.tokens} tokens",
        file="bench_results/needle_threading.json",
        rows={
            "s": {
                "file": "bench_results/needle_threading_short.json",
                "method": "needle-threading[single]",
                "metric": "accuracy@128@depth0.5",
            },
            "t": {
                "file": "bench_results/needle_threading_short.json",
                "method": "needle-threading[threading]",
                "metric": "accuracy@128@depth0.5",
            },
            "a": {"method": "needle-threading", "metric": "accuracy@256"},
            "g": {"method": "needle-threading", "metric": "accuracy@2048"},
        },
    ),
    benchmark=(
        "python benchmarks/analysis.py --stage needle --part grid --lengths 256 512 1024 2048 --depths 0.5 --json "
        "bench_results/needle_threading.json && python benchmarks/analysis.py --stage needle --part all --tasks "
        "single threading --lengths 128 256 512 --depths 0.5 --haystacks 4 --cache-length 512 --json "
        "bench_results/needle_threading_short.json"
    ),
    usage=(
        "from hf_tokens.analysis.needle_threading import needle_threading\n"
        "from hf_tokens.cache.h2o import H2OCache\n"
        "report = needle_threading(model, tokenizer, tasks=['single', 'threading'], context_tokens=[1024, 2048])\n"
        "h2o = needle_threading(model, tokenizer, context_tokens=[2048], cache=lambda c: H2OCache(c, budget=0.2))\n"
        "print(report.rows[0])  # task, tokens, depth, accuracy, context_chars, chars_per_token"
    ),
)
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
