"""PAWN: Perplexity Attention Weighted Network for AI-generated text detection (arXiv 2501.03940)."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

_ID = "in-distribution"
_X = "cross-generator(qwen2.5-coder-0.5b)"
_NUCLEUS = "bench_results/pawn_nucleus.json"

register(
    "pawn",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.pawn.pipeline:PawnPipeline",
    config="hf_tokens.pipelines.pawn.train:PawnConfig",
    contract="hf_tokens.pipelines.pawn.pipeline:contract",
    headline=Headline(
        "human vs machine continuations, {p.tokens} tokens, trained on {p.train_texts} SmolLM2/human texts: AUROC "
        "in-distribution ({p.texts} texts) PAWN {p.value:.2f} (mean of 5 training seeds {ps.value:.2f}), "
        "fine-tuned MiniLM {m.value:.2f}, the same head with mean pooling {mp.value:.2f} (5 seeds), Fast-DetectGPT "
        "{f.value:.2f}; "
        "PAWN minus {gi.baseline} {gi.value:+.2f} (95% CI {gi.ci95[0]:+.2f} to {gi.ci95[1]:+.2f}), minus mean "
        "pooling {gm.value:+.2f} ({gm.ci95[0]:+.2f} to {gm.ci95[1]:+.2f}); cross-generator (Qwen2.5-Coder-0.5B vs "
        "human, {pc.texts} texts) PAWN {pc.value:.2f} ({pcs.value:.2f}), MiniLM {mc.value:.2f}, Fast-DetectGPT "
        "{fc.value:.2f}: PAWN minus {g.baseline} {g.value:+.2f} ({g.ci95[0]:+.2f} to {g.ci95[1]:+.2f}); with "
        "SmolLM2 nucleus samples added ({n.train_texts} training texts) cross-generator PAWN {n.value:.2f} "
        "({ns.value:.2f}), MiniLM {nm.value:.2f}, PAWN minus {ng.baseline} {ng.value:+.2f} ({ng.ci95[0]:+.2f} to "
        "{ng.ci95[1]:+.2f}), in-distribution {ni.value:.2f}; trained on only {a.train_texts} texts, PAWN "
        "{a.value:.2f} cross-generator ({ag.value:+.2f} vs {ag.baseline})",
        file="bench_results/pawn.json",
        rows={
            "p": {"method": "pawn", "metric": "auroc", "split": _ID},
            "ps": {"method": "pawn", "metric": "auroc-mean-over-seeds", "split": _ID},
            "m": {"method": "minilm-finetuned", "metric": "auroc", "split": _ID},
            "mp": {"method": "pawn-mean-pooling", "metric": "auroc-mean-over-seeds", "split": _ID},
            "f": {"method": "fast_detectgpt", "metric": "auroc", "split": _ID},
            "gi": {"method": "pawn", "metric": "auroc-vs-best-zero-shot", "split": _ID},
            "gm": {"method": "pawn", "metric": "auroc-vs-mean-pooling", "split": _ID},
            "pc": {"method": "pawn", "metric": "auroc", "split": _X},
            "pcs": {"method": "pawn", "metric": "auroc-mean-over-seeds", "split": _X},
            "mc": {"method": "minilm-finetuned", "metric": "auroc", "split": _X},
            "fc": {"method": "fast_detectgpt", "metric": "auroc", "split": _X},
            "g": {"method": "pawn", "metric": "auroc-vs-best-zero-shot", "split": _X},
            "n": {"file": _NUCLEUS, "method": "pawn", "metric": "auroc", "split": _X},
            "ns": {"file": _NUCLEUS, "method": "pawn", "metric": "auroc-mean-over-seeds", "split": _X},
            "nm": {"file": _NUCLEUS, "method": "minilm-finetuned", "metric": "auroc", "split": _X},
            "ng": {"file": _NUCLEUS, "method": "pawn", "metric": "auroc-vs-best-zero-shot", "split": _X},
            "ni": {"file": _NUCLEUS, "method": "pawn", "metric": "auroc", "split": _ID},
            "a": {"file": "bench_results/pawn_train40.json", "method": "pawn", "metric": "auroc", "split": _X},
            "ag": {
                "file": "bench_results/pawn_train40.json",
                "method": "pawn",
                "metric": "auroc-vs-best-zero-shot",
                "split": _X,
            },
        },
    ),
    benchmark=(
        "python benchmarks/data/detection_data.py llm-text --n 80 --tokens 64 && "
        "python benchmarks/data/detection_data.py llm-text --n 380 --tokens 64 --seed 2 --tag _train2 && "
        "python benchmarks/data/detection_data.py llm-text --n 156 --tokens 64 --generator qwen --seed 1 --batch 13 "
        "&& python benchmarks/pawn.py --threads 1 --seeds 5 --train-extra .cache/detection/llm_text_64_train2.jsonl "
        "--val-prefixes 52 --minilm-epochs 10 --minilm-seconds 900 --json bench_results/pawn.json  "
        "# nucleus samples: python benchmarks/data/detection_data.py llm-text --n 300 --tokens 64 --seed 3 "
        "--top-p 0.9 --tag _train3 (and --seed 4 --top-p 0.95 --tag _train4), then --train-extra with the three "
        "files --json bench_results/pawn_nucleus.json; 80-text training: python benchmarks/pawn.py --threads 1 "
        "--seeds 5 --json bench_results/pawn_train40.json"
    ),
    usage=(
        "from transformers import pipeline\n"
        "from hf_tokens.pipelines.pawn import PawnHead, cache_features, train_pawn, PawnPipeline\n"
        "files = cache_features(model, tokenizer, texts, '.cache/pawn')  # one safetensors file per text\n"
        "head, log = train_pawn(files, labels)  # 1 = machine, 0 = human; the LM is not run again\n"
        'pipe = pipeline("pawn-llm-text-detection", model=model, tokenizer=tokenizer, head=head)\n'
        'pipe("a text")  # score (logit, higher = machine), probability, machine'
    ),
)
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PawnPipeline": ".pipeline",
        "PawnHead": ".head",
        "PawnHeadConfig": ".head",
        "PawnConfig": ".train",
        "train_pawn": ".train",
        "predict": ".train",
        "collate": ".train",
        "TextFeatures": ".features",
        "compute_features": ".features",
        "cache_features": ".features",
        "load_features": ".features",
        "ClassifierBaselineConfig": ".baseline",
        "minilm_classifier": ".baseline",
        "train_text_classifier": ".baseline",
        "classifier_scores": ".baseline",
    },
)
