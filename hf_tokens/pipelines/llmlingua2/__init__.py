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
        "SmolLM2 reader, {o.n_questions} questions, answer NLL at 3x (uncompressed {o.baseline_value:.2f}): ours"
        " {o.value:.2f} at rate {a.value:.3f} for 0.333 requested, {ol.value:.0f} ms a context; llmlingua's"
        " LLMLingua-1 with SmolLM2 {l.value:.2f} but it keeps {lt.value:.2f} of the tokens, {ll.value:.0f} ms;"
        " ours at no more tokens than LLMLingua-1 kept on each context {m.value:.2f} (difference {d.value:+.2f},"
        " 95% CI {d.ci95[0]:+.2f} to {d.ci95[1]:+.2f}); random word drop {r.value:.2f}; 1 thread",
        file="bench_results/compression_peer.json",
        rows={
            "o": {"method": "llmlingua2@3x", "metric": "answer_nll"},
            "a": {"method": "llmlingua2@3x", "metric": "achieved_rate"},
            "ol": {"method": "llmlingua2@3x", "metric": "latency_ms"},
            "l": {"method": "llmlingua1@3x", "metric": "answer_nll"},
            "lt": {"method": "llmlingua1@3x", "metric": "token_rate"},
            "ll": {"method": "llmlingua1@3x", "metric": "latency_ms"},
            "m": {"method": "llmlingua2-matched@3x", "metric": "answer_nll"},
            "d": {"method": "llmlingua2-matched@3x", "metric": "answer_nll_vs_llmlingua1"},
            "r": {"method": "random-drop@3x", "metric": "answer_nll"},
        },
    ),
    benchmark=(
        "PYTHONPATH=. python benchmarks/compression.py --train-docs 10 --train-words 80 --max-variation 0.3"
        " --train-seconds 60 --max-new-tokens 0 --latency-repeats 1 --peers llmlingua1 llmlingua2-peer"
        " --json bench_results/compression_peer.json  # peer: .venv-llmlingua (HF_TOKENS_PEERS=1 bash setup.sh)"
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
