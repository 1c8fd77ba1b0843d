"""Zero-shot statistical tests for LLM-generated text (arXiv 2501.02406): log-perplexity minus average entropy."""

from hf_tokens.registry import lazy_exports, register

register(
    "zero-shot-detection",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.zero_shot_detection.pipeline:ZeroShotDetectionPipeline",
    config="hf_tokens.pipelines.zero_shot_detection.statistic:ZeroShotDetectionConfig",
    contract="hf_tokens.pipelines.zero_shot_detection.pipeline:contract",
    demo="hf_tokens.pipelines.zero_shot_detection.pipeline:demo",
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
