"""Token-level RAG metrics and synthetic span-anchored questions (Jadon et al., arXiv 2502.15854): recall,
precision, IoU and Precision Omega between retrieved chunks and reference spans, and the LLM pipeline that writes
questions whose evidence is validated by exact span matching."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "rag-token-metrics",
    status="experimental",
    extension="analysis",
    entry="hf_tokens.pipelines.rag_token_metrics.report:evaluate_retrieval",
    contract="hf_tokens.pipelines.rag_token_metrics.report:contract",
    headline=Headline(
        "Precision Omega {a.value:.2f} at 16-token chunks vs {b.value:.2f} at 128; BM25 top-5 token recall"
        " {r.value:.2f} vs {s.value:.2f} ({a.n_questions} generated questions)",
        file="bench_results/rag.json",
        rows={
            "a": {"method": "bm25@16", "metric": "precision_omega"},
            "b": {"method": "bm25@128", "metric": "precision_omega"},
            "r": {"method": "bm25@16", "metric": "token_recall"},
            "s": {"method": "bm25@128", "metric": "token_recall"},
        },
    ),
    benchmark="PYTHONPATH=. python benchmarks/rag.py --json bench_results/rag.json",
    package="hf_tokens.pipelines.rag_token_metrics",
    usage=(
        "from hf_tokens.pipelines.rag_token_metrics import evaluate_retrieval, hf_offsets\n"
        "report = evaluate_retrieval(documents, pairs, chunks, retrieved, offsets=hf_offsets(tokenizer))\n"
        "print(report.iou, report.precision_omega, report.recall)"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "evaluate_retrieval": ".report",
        "RagTokenReport": ".report",
        "hf_offsets": ".report",
        "whitespace_offsets": ".report",
        "token_scores": ".metrics",
        "precision_omega": ".metrics",
        "tokens_in_spans": ".metrics",
        "fixed_token_chunks": ".metrics",
        "paragraph_chunks": ".metrics",
        "QAPair": ".synth",
        "validate_pair": ".synth",
        "generate_replies": ".synth",
        "find_span": ".synth",
    },
)
