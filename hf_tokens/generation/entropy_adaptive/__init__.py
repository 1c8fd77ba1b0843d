"""Entropy Adaptive Decoding (arXiv 2502.06833): a small and a large model sharing one vocabulary take turns token
by token, the large one while the rolling entropy of the next-token distribution is above a threshold."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_ROW = {"method": "ead t=0.5"}
_ROW_HIGH = {"method": "ead t=1.5"}

register(
    "entropy-adaptive-decoding",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.entropy_adaptive.ead:generate",
    config="hf_tokens.generation.entropy_adaptive.ead:EntropyAdaptiveConfig",
    contract="hf_tokens.generation.entropy_adaptive.ead:contract",
    run_kwargs="hf_tokens.generation.entropy_adaptive.ead:run_kwargs",
    headline=Headline(
        "Qwen2.5-Coder 0.5B/1.5B, {a.problems} arithmetic problems: threshold 0.5 keeps {a.ratio:.0%} of 1.5B-only "
        "accuracy with the 1.5B on {s.pct.value:.0f}% of tokens ({t.ratio:.2f}x its time); threshold 1.5: "
        "{b.ratio:.0%} on {u.pct.value:.0f}% ({v.ratio:.2f}x)",
        file="bench_results/generation2_ead.json",
        rows={
            "a": {**_ROW, "metric": "accuracy"},
            "s": {**_ROW, "metric": "large-model token share"},
            "t": {**_ROW, "metric": "seconds"},
            "b": {**_ROW_HIGH, "metric": "accuracy"},
            "u": {**_ROW_HIGH, "metric": "large-model token share"},
            "v": {**_ROW_HIGH, "metric": "seconds"},
        },
    ),
    benchmark="OMP_NUM_THREADS=1 python benchmarks/generation2.py ead --problems 20 --thresholds 0.5,1.5 "
    "--json bench_results/generation2_ead.json",
    package="hf_tokens.generation.entropy_adaptive",
    usage=(
        "from hf_tokens.assets import load_model\n"
        "from hf_tokens.generation import entropy_adaptive\n"
        'large, tokenizer = load_model("qwen2.5-coder-1.5b")\n'
        'small, _ = load_model("qwen2.5-coder-0.5b")\n'
        "stats = {}\n"
        "out = large.generate(**inputs, custom_generate=entropy_adaptive.generate, small_model=small,\n"
        '                     entropy_adaptive_config={"threshold": 1.0, "window": 4}, decoding_stats=stats)\n'
        'print(stats["large_fraction"])  # share of tokens the large model produced'
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "generate": ".ead",
        "EntropyAdaptiveConfig": ".ead",
        "check_small_model": ".ead",
        "entropy": ".ead",
    },
)
