"""S2D (Kavehzadeh et al., arXiv 2407.01955): sorted fine-tuning makes the first-k-layer sub-networks of one draft
model work as nested drafts; sorted speculative decoding picks, per draft token, the smallest sub-network confident
enough (thresholds per target), verified losslessly by the target."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_FILE = "bench_results/s2d_soft600.json"
_T1, _T2 = "SmolLM2-135M", "SmolLM2-135M-SoFT"

register(
    "s2d",
    status="experimental",
    extension="generation",
    card_kind="custom_generate",
    entry="hf_tokens.generation.s2d.s2d:generate",
    config="hf_tokens.generation.s2d.s2d:S2DConfig",
    contract="hf_tokens.generation.s2d.s2d:contract",
    run_kwargs="hf_tokens.generation.s2d.soft:run_kwargs",
    benchmark=(
        "OMP_NUM_THREADS=1 python benchmarks/s2d.py --train-steps 600 --threads 1 --save .cache/s2d-smollm2-600 "
        "--json bench_results/s2d_soft600.json  # 30 steps, 5 prompts: --quick --train-steps 30 --json "
        "bench_results/s2d.json (see bench_results/s2d_notes.md)"
    ),
    headline=Headline(
        "drafts sorted-fine-tuned 600 steps (loss at depth 4 / 12: {d4.value:.1f} / {d12.value:.1f} nats): "
        "{a.median_speedup:.2f}x / {b.median_speedup:.2f}x plain greedy on SmolLM2-135M / its sorted copy, both "
        "served by one set of nested 4/8/12-layer drafts, ahead of one fixed-length 12-layer draft "
        "({f.median_speedup:.2f}x / {g.median_speedup:.2f}x) but behind HF assisted decoding with the 4-layer draft "
        "({h.median_speedup:.2f}x / {i.median_speedup:.2f}x); {t.value:.2f} / {u.value:.2f} tokens per target "
        "forward, the sorted copy taking {s4.pct.value:.0f}% of its drafts from depth 4; lossless, median of {a.n} "
        "prompts, CPU 1 thread",
        file=_FILE,
        rows={
            "a": {"method": f"S2D (adaptive depth) | {_T1}", "metric": "tokens/s"},
            "b": {"method": f"S2D (adaptive depth) | {_T2}", "metric": "tokens/s"},
            "f": {"method": f"S2D fixed 12-layer draft | {_T1}", "metric": "tokens/s"},
            "g": {"method": f"S2D fixed 12-layer draft | {_T2}", "metric": "tokens/s"},
            "h": {"method": f"HF assisted (4-layer draft) | {_T1}", "metric": "tokens/s"},
            "i": {"method": f"HF assisted (4-layer draft) | {_T2}", "metric": "tokens/s"},
            "t": {"method": f"S2D (adaptive depth) | {_T1}", "metric": "tokens/step"},
            "u": {"method": f"S2D (adaptive depth) | {_T2}", "metric": "tokens/step"},
            "s4": {"method": f"S2D (adaptive depth) | {_T2}", "metric": "share of drafts from depth 4"},
            "d4": {"method": "SoFT depth 4", "metric": "train loss, last step"},
            "d12": {"method": "SoFT depth 12", "metric": "train loss, last step"},
        },
    ),
    package="hf_tokens.generation.s2d",
    usage=(
        "from hf_tokens.generation import s2d\n"
        "s2d.sorted_fine_tune(draft, tokenizer, s2d.SortedFineTuningConfig(depths=[4, 8, 12]))  # once, offline\n"
        "out = model.generate(**inputs, custom_generate=s2d.generate, draft_model=draft,\n"
        "                     s2d_config={'depths': [4, 8, 12], 'thresholds': [0.8, 0.6, 0.4]}, max_new_tokens=128)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "generate": ".s2d",
        "S2DConfig": ".s2d",
        "S2DProposer": ".s2d",
        "sub_networks": ".s2d",
        "SortedFineTuningConfig": ".soft",
        "sorted_lm_loss": ".soft",
        "sorted_fine_tune": ".soft",
    },
)
