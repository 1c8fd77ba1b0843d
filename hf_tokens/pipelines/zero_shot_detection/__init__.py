"""Zero-shot statistical tests for LLM-generated text (arXiv 2501.02406): log-perplexity minus average entropy."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_ATTR = "bench_results/detection_attribution.json"
_LEN = "bench_results/detection_llm_text_lengths.json"
_QWEN = "bench_results/detection_llm_text_qwen.json"
_QWEN_QWEN = "bench_results/detection_llm_text_qwen_qwen.json"
_QWEN_TOP_P = "bench_results/detection_llm_text_qwen_top_p.json"
_BINO = "binoculars(observer=qwen2.5-coder-0.5b)"
_SWAPPED = "bench_results/detection_llm_text_qwen05_top_p.json"

register(
    "zero-shot-detection",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.zero_shot_detection.pipeline:ZeroShotDetectionPipeline",
    config="hf_tokens.pipelines.zero_shot_detection.statistic:ZeroShotDetectionConfig",
    contract="hf_tokens.pipelines.zero_shot_detection.pipeline:contract",
    demo="hf_tokens.pipelines.zero_shot_detection.demo:demo",
    headline=Headline(
        "SmolLM2 samples vs human text, 128 tokens: AUROC {z.value:.2f} (Fast-DetectGPT {f.value:.2f}, "
        "Binoculars with a LoRA-tuned observer {b.value:.2f}); empirical type-I error {t.value:.2f} at stated "
        "{t.baseline_value:.2f} (power {p.value:.2f}); LLM A vs B (SmolLM2 vs its LoRA tune): attribution "
        "accuracy {a.value:.2f}, AUROC {aa.value:.2f} (likelihood ratio {lr.value:.2f}); lengths 64/128/256 on one "
        "set of {z64.texts} texts: AUROC {z64.value:.2f}/{z128.value:.2f}/{z256.value:.2f} (Fast-DetectGPT "
        "{f64.value:.2f}/{f128.value:.2f}/{f256.value:.2f}), type-I error {t64.value:.2f}/{t128.value:.2f}/"
        "{t256.value:.2f} at stated {t256.baseline_value:.2f}; scored by Qwen2.5-Coder-1.5B (not the generator; "
        "Binoculars' observer the 0.5B), AUROC Binoculars / Fast-DetectGPT / ours: SmolLM2's pure samples "
        "{qb.value:.2f} / {qf.value:.2f} / {qz.value:.2f} (inverted: a 135M model's temperature-1 text is less likely "
        "than human text), Qwen-0.5B's pure samples {rb.value:.2f} / {rf.value:.2f} / {rz.value:.2f}, its top-p 0.95 "
        "samples {pb.value:.2f} / {pf.value:.2f} / {pz.value:.2f}; the roles swapped (scorer the 0.5B, their "
        "generator; Binoculars' observer the 1.5B) on those top-p samples {xb.value:.2f} / {xf.value:.2f} / "
        "{xz.value:.2f} (one-sided {xo.value:.2f}) ({pz.texts} texts, 128 tokens)",
        file="bench_results/detection_llm_text.json",
        rows={
            "z": {"method": "zero-shot-detection", "metric": "auroc", "tokens": 128},
            "f": {"method": "fast_detectgpt", "metric": "auroc", "tokens": 128},
            "b": {"method": "binoculars(observer=smollm2-lora)", "metric": "auroc", "tokens": 128},
            "t": {"method": "zero-shot-detection[bernstein]", "metric": "type1_error", "tokens": 128},
            "p": {"method": "zero-shot-detection[bernstein]", "metric": "power_vs_human", "tokens": 128},
            "a": {"file": _ATTR, "method": "zero-shot-detection(attribution)", "metric": "accuracy", "tokens": 128},
            "aa": {"file": _ATTR, "method": "zero-shot-detection(attribution)", "metric": "auroc", "tokens": 128},
            "lr": {"file": _ATTR, "method": "likelihood-ratio(attribution)", "metric": "auroc", "tokens": 128},
            "z64": {"file": _LEN, "method": "zero-shot-detection", "metric": "auroc", "tokens": 64},
            "f64": {"file": _LEN, "method": "fast_detectgpt", "metric": "auroc", "tokens": 64},
            "t64": {"file": _LEN, "method": "zero-shot-detection[bernstein]", "metric": "type1_error", "tokens": 64},
            "z128": {"file": _LEN, "method": "zero-shot-detection", "metric": "auroc", "tokens": 128},
            "f128": {"file": _LEN, "method": "fast_detectgpt", "metric": "auroc", "tokens": 128},
            "t128": {"file": _LEN, "method": "zero-shot-detection[bernstein]", "metric": "type1_error", "tokens": 128},
            "z256": {"file": _LEN, "method": "zero-shot-detection", "metric": "auroc", "tokens": 256},
            "f256": {"file": _LEN, "method": "fast_detectgpt", "metric": "auroc", "tokens": 256},
            "t256": {"file": _LEN, "method": "zero-shot-detection[bernstein]", "metric": "type1_error", "tokens": 256},
            "qb": {"file": _QWEN, "method": _BINO, "metric": "auroc", "tokens": 128},
            "qf": {"file": _QWEN, "method": "fast_detectgpt", "metric": "auroc", "tokens": 128},
            "qz": {"file": _QWEN, "method": "zero-shot-detection", "metric": "auroc", "tokens": 128},
            "rb": {"file": _QWEN_QWEN, "method": _BINO, "metric": "auroc", "tokens": 128},
            "rf": {"file": _QWEN_QWEN, "method": "fast_detectgpt", "metric": "auroc", "tokens": 128},
            "rz": {"file": _QWEN_QWEN, "method": "zero-shot-detection", "metric": "auroc", "tokens": 128},
            "pb": {"file": _QWEN_TOP_P, "method": _BINO, "metric": "auroc", "tokens": 128},
            "pf": {"file": _QWEN_TOP_P, "method": "fast_detectgpt", "metric": "auroc", "tokens": 128},
            "pz": {"file": _QWEN_TOP_P, "method": "zero-shot-detection", "metric": "auroc", "tokens": 128},
            "xb": {
                "file": _SWAPPED,
                "method": "binoculars(observer=qwen2.5-coder-1.5b)",
                "metric": "auroc",
                "tokens": 128,
            },
            "xf": {"file": _SWAPPED, "method": "fast_detectgpt", "metric": "auroc", "tokens": 128},
            "xz": {"file": _SWAPPED, "method": "zero-shot-detection", "metric": "auroc", "tokens": 128},
            "xo": {"file": _SWAPPED, "method": "zero-shot-detection(one-sided)", "metric": "auroc", "tokens": 128},
        },
    ),
    benchmark=(
        "python benchmarks/data/detection_data.py llm-text --n 40 --tokens 128 && python benchmarks/detection.py "
        "--skip membership attribution --observer lora --json bench_results/detection_llm_text.json && python "
        "benchmarks/data/detection_data.py llm-text --n 40 --tokens 128 --generator lora && python "
        "benchmarks/detection.py --skip membership llm-text --limit 20 --json bench_results/detection_attribution.json"
        " && python benchmarks/data/detection_data.py llm-text --n 40 --tokens 256 --batch 20 && python "
        "benchmarks/detection.py --skip membership attribution --observer self --source-tokens 256 --lengths 64 128 "
        "256 --limit 32 --json bench_results/detection_llm_text_lengths.json && python benchmarks/detection.py --skip "
        "membership attribution --scorer qwen --json bench_results/detection_llm_text_qwen.json (then the data "
        "script's --generator qwen [--top-p 0.95] and --texts qwen [qwen_top_p0.95]; --scorer qwen-0.5b --texts "
        "qwen_top_p0.95 --json bench_results/detection_llm_text_qwen05_top_p.json; HF_TOKENS_QWEN=1 set-up)"
    ),
    usage=(
        "from transformers import pipeline\n"
        "from hf_tokens.pipelines.zero_shot_detection import ZeroShotDetectionPipeline  # importing registers it\n"
        'pipe = pipeline("llm-text-detection", model=model, tokenizer=tokenizer)\n'
        'pipe("a text")  # statistic (log-PPL - entropy), p_value, reject (p <= alpha: not from this model)'
    ),
)
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ZeroShotDetectionPipeline": ".pipeline",
        "attribute": ".pipeline",
        "ZeroShotDetectionConfig": ".statistic",
        "zero_shot_test": ".statistic",
        "p_values": ".statistic",
    },
)
