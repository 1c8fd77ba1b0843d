"""Entropy Adaptive Decoding (arXiv 2502.06833): a small and a large model sharing one vocabulary take turns token
by token, the large one while the rolling entropy of the next-token distribution is above a threshold."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_T05, _T10, _T15 = ({"method": f"ead t={t}"} for t in ("0.5", "1", "1.5"))
_ASSISTED = {"method": "assisted (0.5B draft)"}

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
        "Qwen2.5-Coder 0.5B/1.5B, {a.problems} arithmetic problems (reasoning-gym), final number only (<= 16 "
        "tokens): threshold 1.0 keeps {a.ratio:.0%} of 1.5B-only accuracy (difference {a.pct.diff_ci_low:.0f} to "
        "{a.pct.diff_ci_high:.0f} points, 95% CI) with the 1.5B on {s.pct.value:.0f}% of tokens, {t.ratio:.2f}x "
        "its time and {p.value:.2f}x HF assisted decoding's per problem (95% CI {p.ci_low:.2f}-{p.ci_high:.2f}); "
        "threshold 0.5: {b.ratio:.0%} on {u.pct.value:.0f}% ({v.ratio:.2f}x); threshold 1.5: {c.ratio:.0%} on "
        "{w.pct.value:.0f}% ({x.ratio:.2f}x); assisted decoding (lossless, 0.5B draft) {y.ratio:.2f}x the 1.5B's "
        "time. The paper's operating point (>= 90% of the accuracy with the large model on <= 50% of tokens) is "
        "not reached on these short answers",
        file="bench_results/generation2_ead.json",
        rows={
            "a": {**_T10, "metric": "accuracy"},
            "s": {**_T10, "metric": "large-model token share"},
            "t": {**_T10, "metric": "seconds"},
            "p": {**_T10, "metric": "per_problem_time_vs_assisted"},
            "b": {**_T05, "metric": "accuracy"},
            "u": {**_T05, "metric": "large-model token share"},
            "v": {**_T05, "metric": "seconds"},
            "c": {**_T15, "metric": "accuracy"},
            "w": {**_T15, "metric": "large-model token share"},
            "x": {**_T15, "metric": "seconds"},
            "y": {**_ASSISTED, "metric": "seconds"},
        },
    ),
    benchmark="for k in 0 1; do OMP_NUM_THREADS=1 python benchmarks/generation2.py ead --problems 100 --thresholds "
    "0.5,1.0,1.5 --shard $k/2 --json .cache/ead_s$k.json & done; wait; python benchmarks/generation2.py ead "
    "--problems 100 --thresholds 0.5,1.0,1.5 --merge .cache/ead_s0.json .cache/ead_s1.json "
    "--json bench_results/generation2_ead.json  # the Qwen pair: HF_TOKENS_QWEN=1 bash setup.sh",
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
