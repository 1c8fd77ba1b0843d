"""PAWN: Perplexity Attention Weighted Network for AI-generated text detection (arXiv 2501.03940)."""

from hf_tokens.registry import lazy_exports, register

register(
    "pawn",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.pawn.pipeline:PawnPipeline",
    config="hf_tokens.pipelines.pawn.train:PawnConfig",
    contract="hf_tokens.pipelines.pawn.pipeline:contract",
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
    },
)
