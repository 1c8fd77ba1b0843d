"""TCRA-LLM token compression of retrieved context (Liu et al., arXiv 2310.15556): summarisation compression by an
LLM to an enforced token budget, semantic compression that drops the words whose removal moves the MiniLM sentence
embedding least (a subsequence of the input), and both composed; a ``context-compression`` transformers pipeline."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

RATES = "bench_results/compression_context_rates.json"

register(
    "tcra",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.tcra.pipeline:ContextCompressionPipeline",
    config="hf_tokens.pipelines.tcra.pipeline:TCRAConfig",
    contract="hf_tokens.pipelines.tcra.pipeline:contract",
    headline=Headline(
        "answer F1 at 2x (half the tokens): summary {s.value:.1f}, semantic {m.value:.1f}, both {b.value:.1f},"
        " random drop {r.value:.1f} vs {s.baseline_value:.1f} uncompressed (summary minus uncompressed: 95% CI"
        " {s.ci95_diff[0]:+.1f} to {s.ci95_diff[1]:+.1f}; {s.n_questions} generated questions, SmolLM2-135M reader"
        " and summariser); at 3x / 5x ({s3.n_questions} questions): summary {s3.value:.1f} / {s5.value:.1f},"
        " semantic {m3.value:.1f} /"
        " {m5.value:.1f}, both {b3.value:.1f} / {b5.value:.1f}, random drop {r3.value:.1f} / {r5.value:.1f}; summary"
        " minus random drop at 3x {d3.value:+.1f} points (95% CI {d3.ci95[0]:+.1f} to {d3.ci95[1]:+.1f}); the"
        " reader's NLL of the reference answer rises under every compression (summary at 3x {n3.value:.2f} vs"
        " {n3.baseline_value:.2f}, rise {n3.ci95_diff[0]:+.2f} to {n3.ci95_diff[1]:+.2f})",
        file="bench_results/compression_context.json",
        rows={
            "s": {"method": "tcra-summarize@0.5", "metric": "answer_f1"},
            "m": {"method": "tcra-semantic@0.5", "metric": "answer_f1"},
            "b": {"method": "tcra-both@0.5", "metric": "answer_f1"},
            "r": {"method": "random-drop@0.5", "metric": "answer_f1"},
            "s3": {"file": RATES, "method": "tcra-summarize@0.33", "metric": "answer_f1"},
            "s5": {"file": RATES, "method": "tcra-summarize@0.2", "metric": "answer_f1"},
            "m3": {"file": RATES, "method": "tcra-semantic@0.33", "metric": "answer_f1"},
            "m5": {"file": RATES, "method": "tcra-semantic@0.2", "metric": "answer_f1"},
            "b3": {"file": RATES, "method": "tcra-both@0.33", "metric": "answer_f1"},
            "b5": {"file": RATES, "method": "tcra-both@0.2", "metric": "answer_f1"},
            "r3": {"file": RATES, "method": "random-drop@0.33", "metric": "answer_f1"},
            "r5": {"file": RATES, "method": "random-drop@0.2", "metric": "answer_f1"},
            "d3": {"file": RATES, "method": "tcra-summarize@0.33", "metric": "answer_f1_minus_random_drop"},
            "n3": {"file": RATES, "method": "tcra-summarize@0.33", "metric": "answer_nll"},
        },
    ),
    benchmark=(
        "PYTHONPATH=. python benchmarks/compression_context.py --data benchmarks/data/rag_eval_qwen15.json --rates 0.5"
        " --passages 4 --answer-tokens 24 --json bench_results/compression_context.json  # 3x / 5x: --rates 0.33,0.2"
        " --json bench_results/compression_context_rates.json"
    ),
    package="hf_tokens.pipelines.tcra",
    usage=(
        "from transformers import pipeline\n"
        "import hf_tokens.pipelines.tcra.pipeline  # registers the 'context-compression' task\n"
        "pipe = pipeline('context-compression', model=llm, tokenizer=tok, encoder=enc, encoder_tokenizer=enc_tok)\n"
        "pipe({'context': retrieved, 'question': q}, rate=0.5, mode='both')['compressed_text']"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ContextCompressionPipeline": ".pipeline",
        "TCRAConfig": ".pipeline",
        "tcra_compress": ".pipeline",
        "summarize_to_budget": ".compress",
        "semantic_compress": ".compress",
        "fit_to_budget": ".compress",
        "count_tokens": ".compress",
        "budget_of": ".compress",
    },
)
