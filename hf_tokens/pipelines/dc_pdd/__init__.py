"""DC-PDD: pretraining-data detection by divergence-based calibration (arXiv 2409.14781)."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "dc-pdd",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.dc_pdd.pipeline:DCPDDPipeline",
    config="hf_tokens.pipelines.dc_pdd.pipeline:DCPDDConfig",
    contract="hf_tokens.pipelines.dc_pdd.pipeline:contract",
    demo="hf_tokens.pipelines.dc_pdd.demo:demo",
    headline=Headline(
        "membership AUROC, natural (Debian changelogs before 2023 vs from 2025): {n.value:.2f} (Min-K%++ "
        "{nm.value:.2f}, perplexity {np.value:.2f}); controlled (LoRA-tuned members): {c.value:.2f} (Min-K%++ "
        "{cm.value:.2f}, perplexity {cp.value:.2f}); SmolLM2-135M, {n.texts} texts per setting",
        file="bench_results/detection_membership.json",
        rows={
            "n": {"method": "dc-pdd", "metric": "auroc", "setting": "natural"},
            "nm": {"method": "min_k_plus_plus", "metric": "auroc", "setting": "natural"},
            "np": {"method": "perplexity", "metric": "auroc", "setting": "natural"},
            "c": {"method": "dc-pdd", "metric": "auroc", "setting": "controlled"},
            "cm": {"method": "min_k_plus_plus", "metric": "auroc", "setting": "controlled"},
            "cp": {"method": "perplexity", "metric": "auroc", "setting": "controlled"},
        },
    ),
    benchmark=(
        "python benchmarks/data/detection_data.py membership-controlled --n 40 --epochs 3 && python "
        "benchmarks/data/detection_data.py membership-natural --n 40 && python benchmarks/detection.py --skip "
        "llm-text attribution --json bench_results/detection_membership.json"
    ),
    usage=(
        "from transformers import pipeline\n"
        "from hf_tokens.pipelines.dc_pdd import DCPDDPipeline, TokenFrequency  # importing registers the task\n"
        "freq = TokenFrequency.from_corpora(tokenizer, vocab_size=model.config.vocab_size)  # offline corpora\n"
        'pipe = pipeline("membership-inference", model=model, tokenizer=tokenizer, reference_frequency=freq)\n'
        'pipe(["a text", "another text"], baselines=True)  # score: higher = more likely a training member'
    ),
)
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "DCPDDPipeline": ".pipeline",
        "DCPDDConfig": ".pipeline",
        "dc_pdd_score": ".pipeline",
        "TokenFrequency": ".frequency",
    },
)
