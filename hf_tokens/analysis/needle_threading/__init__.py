"""Needle Threading (arXiv 2411.05000): single, multiple and conditional needles, threads and multi-threads in JSON
haystacks of key-value pairs, scored vs context length (in tokens and characters) and needle depth, for any HF causal
LM and any of the library's KV caches (``cache=`` factory)."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

LONG = "bench_results/needle_threading_long.json"
QWEN = "bench_results/needle_threading_qwen05b.json"
CACHES = "bench_results/needle_threading_qwen05b_caches.json"

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
        "{a.tokens} and {g.pct.value:.0f}% at {g.tokens} tokens ({l.pct.value:.0f}% at {l.tokens}). "
        "Qwen2.5-Coder-0.5B (5 tasks x 3 depths x 2 haystacks per length): {q1.pct.value:.0f}% at {q1.tokens} tokens "
        "({q1.context_chars:.0f} characters), {q8.pct.value:.0f}% at {q8.tokens} ({q8.context_chars:.0f}); a single "
        "needle at {s0.tokens} tokens: {s0.pct.value:.0f}% at depth 0, {s5.pct.value:.0f}% at depth 0.5; 3-hop "
        "threads: {th.pct.value:.0f}% even at {th.tokens} tokens, depth 0. Caches at 20% budget on Qwen (single + "
        "multiple needles, {ch.tokens} tokens, 8 examples): full cache {ch.baseline_value:.2f}, H2O {ch.value:.2f}, "
        "EMS {ce.value:.2f}, TokenSelect {ct.value:.2f}, TidalDecode {cd.value:.2f}",
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
            "l": {"file": LONG, "method": "needle-threading", "metric": "accuracy@7936"},
            "q1": {"file": QWEN, "method": "needle-threading", "metric": "accuracy@1024"},
            "q8": {"file": QWEN, "method": "needle-threading", "metric": "accuracy@8192"},
            "s0": {"file": QWEN, "method": "needle-threading[single]", "metric": "accuracy@8192@depth0.0"},
            "s5": {"file": QWEN, "method": "needle-threading[single]", "metric": "accuracy@8192@depth0.5"},
            "th": {"file": QWEN, "method": "needle-threading[threading]", "metric": "accuracy@1024@depth0.0"},
            "ch": {"file": CACHES, "method": "h2o@20%", "metric": "accuracy@1024"},
            "ce": {"file": CACHES, "method": "ems@20%", "metric": "accuracy@1024"},
            "ct": {"file": CACHES, "method": "tokenselect@20%", "metric": "accuracy@1024"},
            "cd": {"file": CACHES, "method": "tidaldecode@20%", "metric": "accuracy@1024"},
        },
    ),
    benchmark=(
        "python benchmarks/analysis.py --stage needle --part grid --lengths 256 512 1024 2048 --depths 0.5 --json "
        "bench_results/needle_threading.json && python benchmarks/analysis.py --stage needle --part all --tasks "
        "single threading --lengths 128 256 512 --depths 0.5 --haystacks 4 --cache-length 512 --json "
        "bench_results/needle_threading_short.json && python benchmarks/analysis.py --stage needle --part grid "
        "--lengths 4096 7936 --depths 0.5 --json bench_results/needle_threading_long.json && python "
        "benchmarks/analysis.py --stage needle --part grid --model qwen2.5-coder-0.5b --lengths 1024 2048 4096 8192 "
        "--depths 0.0 0.5 1.0 --haystacks 2 --json bench_results/needle_threading_qwen05b.json && python "
        "benchmarks/analysis.py --stage needle --part caches --model qwen2.5-coder-0.5b --cache-length 1024 "
        "--cache-tasks single multiple --depths 0.0 1.0 --haystacks 2 --json "
        "bench_results/needle_threading_qwen05b_caches.json"
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
