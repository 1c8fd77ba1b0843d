"""S2D (Kavehzadeh et al., arXiv 2407.01955): sorted fine-tuning makes the first-k-layer sub-networks of one draft
model work as nested drafts; sorted speculative decoding picks, per draft token, the smallest sub-network confident
enough (thresholds per target), verified losslessly by the target."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_FILE = "bench_results/s2d.json"
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
        "OMP_NUM_THREADS=1 python benchmarks/s2d.py --quick --train-steps 30 --threads 1 --json bench_results/s2d.json"
    ),
    headline=Headline(
        "{a.median_speedup:.2f}x / {b.median_speedup:.2f}x plain greedy on SmolLM2-135M / its sorted copy, both "
        "served by one set of nested 4/8/12-layer drafts (one fixed 12-layer draft: {f.median_speedup:.2f}x / "
        "{g.median_speedup:.2f}x; HF assisted, 4-layer draft: {h.median_speedup:.2f}x / {i.median_speedup:.2f}x); "
        "{t.value:.2f} tokens per target forward; lossless, median of {a.n} prompts, CPU 1 thread",
        file=_FILE,
        rows={
            "a": {"method": f"S2D (adaptive depth) | {_T1}", "metric": "tokens/s"},
            "b": {"method": f"S2D (adaptive depth) | {_T2}", "metric": "tokens/s"},
            "f": {"method": f"S2D fixed 12-layer draft | {_T1}", "metric": "tokens/s"},
            "g": {"method": f"S2D fixed 12-layer draft | {_T2}", "metric": "tokens/s"},
            "h": {"method": f"HF assisted (4-layer draft) | {_T1}", "metric": "tokens/s"},
            "i": {"method": f"HF assisted (4-layer draft) | {_T2}", "metric": "tokens/s"},
            "t": {"method": f"S2D (adaptive depth) | {_T1}", "metric": "tokens/step"},
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
