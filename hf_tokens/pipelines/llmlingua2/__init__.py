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
        "SmolLM2 reader, {o.n_questions} questions, at 3x (uncompressed: answer NLL {o.baseline_value:.2f}, F1"
        " {of.baseline_value:.2f}): ours NLL {o.value:.2f} / F1 {of.value:.2f} at rate {a.value:.3f} for 0.333"
        " requested (mean rate error {oe.value:.3f}); llmlingua's LLMLingua-1 (SmolLM2 as its LM) at iterative_size"
        " 50, where it comes closest to the rate (error {ie.value:.3f}; {it.value:.2f} of the reader tokens, ours"
        " {ot.value:.2f}): {i.value:.2f} / {i1.value:.2f}, ours minus it NLL {di.value:+.2f} (95% CI"
        " {di.ci95[0]:+.2f} to {di.ci95[1]:+.2f}), F1 {fi.value:+.2f} ({fi.ci95[0]:+.2f} to {fi.ci95[1]:+.2f});"
        " ours cut to its exact per-context lengths: NLL {mi.value:.2f} ({dmi.value:+.2f}, {dmi.ci95[0]:+.2f} to"
        " {dmi.ci95[1]:+.2f}); at its default iterative_size 200 it keeps {lt.value:.2f} of the tokens (NLL"
        " {l.value:.2f}) and ours at those lengths {m.value:.2f} ({d.value:+.2f}, {d.ci95[0]:+.2f} to"
        " {d.ci95[1]:+.2f}); random word drop {r.value:.2f} / {r1.value:.2f}; {ol.value:.0f} vs {il.value:.0f} ms"
        " a context, 1 thread",
        file="bench_results/compression_peer.json",
        rows={
            "o": {"method": "llmlingua2@3x", "metric": "answer_nll"},
            "of": {"method": "llmlingua2@3x", "metric": "answer_f1"},
            "a": {"method": "llmlingua2@3x", "metric": "achieved_rate"},
            "ot": {"method": "llmlingua2@3x", "metric": "token_rate"},
            "ol": {"method": "llmlingua2@3x", "metric": "latency_ms"},
            "oe": {"method": "llmlingua2@3x", "metric": "rate_error"},
            "ie": {"method": "llmlingua1-iter50@3x", "metric": "rate_error"},
            "mi": {"method": "llmlingua2-matched-iter50@3x", "metric": "answer_nll"},
            "dmi": {"method": "llmlingua2-matched-iter50@3x", "metric": "answer_nll_vs_llmlingua1-iter50"},
            "i": {"method": "llmlingua1-iter50@3x", "metric": "answer_nll"},
            "i1": {"method": "llmlingua1-iter50@3x", "metric": "answer_f1"},
            "it": {"method": "llmlingua1-iter50@3x", "metric": "token_rate"},
            "il": {"method": "llmlingua1-iter50@3x", "metric": "latency_ms"},
            "di": {"method": "llmlingua2@3x", "metric": "answer_nll_vs_llmlingua1-iter50"},
            "fi": {"method": "llmlingua2@3x", "metric": "answer_f1_vs_llmlingua1-iter50"},
            "l": {"method": "llmlingua1@3x", "metric": "answer_nll"},
            "lt": {"method": "llmlingua1@3x", "metric": "token_rate"},
            "m": {"method": "llmlingua2-matched@3x", "metric": "answer_nll"},
            "d": {"method": "llmlingua2-matched@3x", "metric": "answer_nll_vs_llmlingua1"},
            "r": {"method": "random-drop@3x", "metric": "answer_nll"},
            "r1": {"method": "random-drop@3x", "metric": "answer_f1"},
        },
    ),
    benchmark=(
        "PYTHONPATH=. python benchmarks/compression.py --data benchmarks/data/rag_eval_qwen15.json"
        " --teacher qwen2.5-coder-1.5b --train-docs 100 --train-words 80 --train-windows 3"
        " --max-variation 0.3 --epochs 20 --train-seconds 300 --latency-repeats 1 --threads 1 --peers llmlingua1"
        " llmlingua1-iter50 llmlingua2-peer --json bench_results/compression_peer.json  # peer: .venv-llmlingua"
        " (HF_TOKENS_PEERS=1 bash setup.sh); teacher: HF_TOKENS_QWEN=1 bash setup.sh"
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
