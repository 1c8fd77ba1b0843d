"""TCRA-LLM token compression of retrieved context (Liu et al., arXiv 2310.15556): summarisation compression by an
LLM to an enforced token budget, semantic compression that drops the words whose removal moves the MiniLM sentence
embedding least (a subsequence of the input), and both composed; a ``context-compression`` transformers pipeline."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "tcra",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.tcra.pipeline:ContextCompressionPipeline",
    config="hf_tokens.pipelines.tcra.pipeline:TCRAConfig",
    contract="hf_tokens.pipelines.tcra.pipeline:contract",
    headline=Headline(
        "answer F1 at 2x (half the tokens): summary {s.value:.1f}, semantic {m.value:.1f}, both {b.value:.1f},"
        " random drop {r.value:.1f} vs {s.baseline_value:.1f} uncompressed ({s.n_questions} generated questions,"
        " SmolLM2-135M reader and summariser)",
        file="bench_results/compression_context.json",
        rows={
            "s": {"method": "tcra-summarize@0.5", "metric": "answer_f1"},
            "m": {"method": "tcra-semantic@0.5", "metric": "answer_f1"},
            "b": {"method": "tcra-both@0.5", "metric": "answer_f1"},
            "r": {"method": "random-drop@0.5", "metric": "answer_f1"},
        },
    ),
    benchmark=(
        "PYTHONPATH=. python benchmarks/compression_context.py --rates 0.5 --passages 4 --answer-tokens 24"
        " --json bench_results/compression_context.json"
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
