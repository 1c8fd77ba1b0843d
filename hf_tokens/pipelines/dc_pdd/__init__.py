"""DC-PDD: pretraining-data detection by divergence-based calibration (arXiv 2409.14781)."""

from hf_tokens.registry import lazy_exports, register

register(
    "dc-pdd",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.dc_pdd.pipeline:DCPDDPipeline",
    config="hf_tokens.pipelines.dc_pdd.pipeline:DCPDDConfig",
    contract="hf_tokens.pipelines.dc_pdd.pipeline:contract",
    demo="hf_tokens.pipelines.dc_pdd.pipeline:demo",
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
