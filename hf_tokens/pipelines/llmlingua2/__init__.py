"""LLMLingua-2 (Pan et al., arXiv 2403.12968): prompt compression as token classification with a bidirectional
encoder trained on LLM-distilled extractive compressions; a ``prompt-compression`` transformers pipeline that meets
the requested rate exactly, has no 512-token limit and keeps the input's word order (the output is a subsequence)."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "llmlingua2",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.llmlingua2.pipeline:PromptCompressionPipeline",
    config="hf_tokens.pipelines.llmlingua2.pipeline:LLMLingua2Config",
    contract="hf_tokens.pipelines.llmlingua2.pipeline:contract",
    headline=Headline(
        "reader answer NLL {o.value:.2f} at 3x vs random word drop {r.value:.2f} (uncompressed {o.baseline_value:.2f},"
        " {o.n_questions} questions, SmolLM2 reader); achieved rate {a.value:.3f} for 0.333 requested",
        file="bench_results/compression.json",
        rows={
            "o": {"method": "llmlingua2@3x", "metric": "answer_nll"},
            "r": {"method": "random-drop@3x", "metric": "answer_nll"},
            "a": {"method": "llmlingua2@3x", "metric": "achieved_rate"},
        },
    ),
    benchmark=(
        "PYTHONPATH=. python benchmarks/compression.py --train-docs 6 --train-words 80 --max-variation 0.3"
        " --train-seconds 30 --max-new-tokens 0 --json bench_results/compression.json"
    ),
    package="hf_tokens.pipelines.llmlingua2",
    usage=(
        "from transformers import pipeline\n"
        "import hf_tokens.pipelines.llmlingua2.pipeline  # registers the 'prompt-compression' task\n"
        "compressor = pipeline('prompt-compression', model=classifier, tokenizer=tokenizer)\n"
        "compressor(context, rate=0.33, force_tokens=['?'])['compressed_prompt']"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "PromptCompressionPipeline": ".pipeline",
        "LLMLingua2Config": ".pipeline",
        "tiny_classifier": ".pipeline",
        "split_words": ".compress",
        "keep_probabilities": ".compress",
        "compress_words": ".compress",
        "word_chunks": ".compress",
        "align_labels": ".train",
        "distillation_prompt": ".train",
        "variation_rate": ".train",
        "train_classifier": ".train",
    },
)
