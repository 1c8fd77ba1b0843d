"""Entropy Adaptive Decoding (arXiv 2502.06833): a small and a large model sharing one vocabulary take turns token
by token, the large one while the rolling entropy of the next-token distribution is above a threshold."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_T05, _T10, _T15 = ({"method": f"ead t={t}"} for t in ("0.5", "1", "1.5"))
_ASSISTED = {"method": "assisted (0.5B draft)"}
_STEPS = "bench_results/generation2_ead_steps.json"  # worked solutions (reasoning chains)
_S03, _S06 = ({"file": _STEPS, "method": f"ead t={t}"} for t in ("0.3", "0.6"))
_HELD = {"file": "bench_results/generation2_ead_steps_heldout.json", "method": "ead t=0.4"}  # picked on seed 1000
_W1 = {"file": "bench_results/generation2_ead_window1_heldout.json", "method": "ead t=0.8"}  # picked on _PILOT
_PILOT = {"file": "bench_results/generation2_ead_window1_pilot.json", "method": "ead t=0.8", "metric": "accuracy"}
_TRIG = "bench_results/generation2_ead_trigger_100.json"  # content trigger, 100 fresh problems (seed 8000)
_TR, _TN = ({"file": _TRIG, "method": m} for m in ("ead t=0.8 +trigger", "ead t=0.8"))
_TPILOT = {"file": "bench_results/generation2_ead_trigger_pilot.json", "method": "ead t=0.8 +trigger"}  # seed 7000
_ARM_METRICS = {"": "accuracy", "s": "large-model token share", "t": "seconds", "p": "per_problem_time_vs_assisted"}


def _arm_rows(key: str, select: dict) -> dict:
    """Headline rows ``key``, ``key + "s"``, ``key + "t"``, ``key + "p"``: one worked-solution arm's four metrics."""
    return {key + suffix: {**select, "metric": metric} for suffix, metric in _ARM_METRICS.items()}


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
        "Qwen2.5-Coder 0.5B/1.5B on reasoning-gym arithmetic, worked solutions ending in an answer line (<= 128 "
        "tokens, the paper's reasoning-chain setting). Window 1 (each position judged on its own entropy), threshold "
        "0.8, picked on {q.problems} seed-1000 problems and run on {k.problems} fresh ones (seed 4000): "
        "{k.ratio:.0%} of 1.5B-only accuracy ({k.pct.diff_ci_low:.0f} to {k.pct.diff_ci_high:+.0f} points, 95% CI) "
        "with the 1.5B on {ks.pct.value:.0f}% of tokens at {kt.ratio:.2f}x its time and {kp.value:.2f}x HF assisted "
        "decoding's per problem (95% CI {kp.ci_low:.2f}-{kp.ci_high:.2f}; lossless, the 0.5B drafting 5 tokens a "
        "step: {ky.ratio:.2f}x the 1.5B's time); small only {ko.ratio:.0%}. Token share and time meet our target "
        "(<= 50% of tokens, faster than assisted decoding); the accuracy misses its >= 90%. With a content trigger "
        "(an extension: the 1.5B also decodes the results after '=', where the 0.5B errs confidently), on "
        "{g.problems} fresh problems (seed 8000): {g.ratio:.0%} of 1.5B-only accuracy ({g.pct.diff_ci_low:.0f} to "
        "{g.pct.diff_ci_high:+.0f} points) on {gs.pct.value:.0f}% of tokens at {gp.value:.2f}x assisted's time (95% "
        "CI {gp.ci_low:.2f}-{gp.ci_high:.2f}), so still short of 90% and not faster (its {gq.problems}-problem pilot, "
        "seed 7000, gave {gq.ratio:.0%}); without it {gn.ratio:.0%} on {gns.pct.value:.0f}%. Window 4 "
        "({m.problems} problems of seed 1000, thresholds picked on seed 0): threshold 0.3 keeps {m.ratio:.0%} of "
        "1.5B-only accuracy "
        "(difference {m.pct.diff_ci_low:.0f} to {m.pct.diff_ci_high:+.0f} points, 95% CI) with the 1.5B on "
        "{ms.pct.value:.0f}% of tokens at {mt.ratio:.2f}x its time and {mp.value:.2f}x HF assisted decoding's per "
        "problem (95% CI {mp.ci_low:.2f}-{mp.ci_high:.2f}; lossless, the 0.5B drafting 5 tokens a step: "
        "{oy.ratio:.2f}x the 1.5B's time); threshold 0.6: {n.ratio:.0%} ({n.pct.diff_ci_low:.0f} to "
        "{n.pct.diff_ci_high:+.0f} points) on {ns.pct.value:.0f}% at {nt.ratio:.2f}x ({np.value:.2f}x assisted's, "
        "{np.ci_low:.2f}-{np.ci_high:.2f}); small only {o.ratio:.0%}. Threshold 0.4, picked between those two and "
        "run on {h.problems} fresh problems (seed 3000): {h.ratio:.0%} ({h.pct.diff_ci_low:.0f} to "
        "{h.pct.diff_ci_high:+.0f} points) on {hs.pct.value:.0f}% at {ht.ratio:.2f}x ({hp.value:.2f}x assisted's, "
        "{hp.ci_low:.2f}-{hp.ci_high:.2f}); no window-4 threshold reaches the target. Final number only, window 4 "
        "(<= 16 tokens, {a.problems} problems): threshold 1.0 keeps {a.ratio:.0%} ({a.pct.diff_ci_low:.0f} to "
        "{a.pct.diff_ci_high:+.0f} points) on {s.pct.value:.0f}% at {t.ratio:.2f}x ({p.value:.2f}x assisted's with "
        "transformers' default assistant settings, {p.ci_low:.2f}-{p.ci_high:.2f}); threshold 0.5: {b.ratio:.0%} on "
        "{u.pct.value:.0f}% ({v.ratio:.2f}x); threshold 1.5: {c.ratio:.0%} on {w.pct.value:.0f}% ({x.ratio:.2f}x); "
        "assisted {y.ratio:.2f}x",
        file="bench_results/generation2_ead.json",
        rows={
            **_arm_rows("m", _S03),
            **_arm_rows("n", _S06),
            **_arm_rows("h", _HELD),
            **_arm_rows("k", _W1),
            **{k: v for k, v in _arm_rows("g", _TR).items() if k != "gt"},
            "gn": {**_TN, "metric": "accuracy"},
            "gq": {**_TPILOT, "metric": "accuracy"},
            "gns": {**_TN, "metric": "large-model token share"},
            "q": _PILOT,
            "ko": {"file": _W1["file"], "method": "small only", "metric": "accuracy"},
            "ky": {"file": _W1["file"], "method": "assisted (0.5B draft, 5)", "metric": "seconds"},
            "o": {"file": _STEPS, "method": "small only", "metric": "accuracy"},
            "oy": {"file": _STEPS, "method": "assisted (0.5B draft, 5)", "metric": "seconds"},
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
    benchmark="S='--problems 100 --seed 1000 --prompt steps --max-new-tokens 128 --thresholds 0.3,0.6 "
    "--assistant-tokens 5'; for k in 0 1; do OMP_NUM_THREADS=1 python benchmarks/generation2.py ead $S --shard $k/2 "
    "--json .cache/ead_steps_s$k.json & done; wait; python benchmarks/generation2.py ead $S --merge "
    ".cache/ead_steps_s0.json .cache/ead_steps_s1.json --json bench_results/generation2_ead_steps.json"
    "  # threshold 0.4: the same with --seed 3000 --thresholds 0.4, shards .cache/ead_held_s$k.json, into "
    "bench_results/generation2_ead_steps_heldout.json; window 1: --seed 4000 --thresholds 0.8 --window 1, shards "
    ".cache/ead_w1_s$k.json, into bench_results/generation2_ead_window1_heldout.json (its pilot: --problems 24 "
    "--seed 1000 --thresholds 0.6,0.8,1.0 --window 1 into bench_results/generation2_ead_window1_pilot.json);"
    " content trigger pilot: --problems 40 --seed 7000 --thresholds 0.8 --window 1 --large-after '=\\s*-?\\d*$', "
    "shards .cache/ead_trig_s$k.json, into bench_results/generation2_ead_trigger_pilot.json; confirmed with "
    "--problems 100 --seed 8000, shards .cache/ead_trig8k_s$k.json, into "
    "bench_results/generation2_ead_trigger_100.json;"
    " final number only: --problems 100 --thresholds 0.5,1.0,1.5 (no other flags) into .cache/ead_s$k.json and "
    "bench_results/generation2_ead.json; the Qwen pair: HF_TOKENS_QWEN=1 bash setup.sh",
    package="hf_tokens.generation.entropy_adaptive",
    usage=(
        "from hf_tokens.assets import load_model\n"
        "from hf_tokens.generation import entropy_adaptive\n"
        'large, tokenizer = load_model("qwen2.5-coder-1.5b")\n'
        'small, _ = load_model("qwen2.5-coder-0.5b")\n'
        "stats = {}\n"
        "out = large.generate(**inputs, custom_generate=entropy_adaptive.generate, small_model=small,\n"
        '                     entropy_adaptive_config={"threshold": 0.8, "window": 1}, decoding_stats=stats)\n'
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
        "regex_trigger": ".ead",
    },
)
