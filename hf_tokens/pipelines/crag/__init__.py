"""CRAG, clustered retrieval-augmented generation (Akesson and Santos, arXiv 2406.00029): k-means on MiniLM
embeddings of the retrieved passages, one LLM summary per cluster, the summaries as the reader's context; a
``clustered-rag`` transformers pipeline."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "crag",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.crag.pipeline:ClusteredRAGPipeline",
    config="hf_tokens.pipelines.crag.pipeline:CRAGConfig",
    contract="hf_tokens.pipelines.crag.pipeline:contract",
    headline=Headline(
        "{t.pct.value:.0f}% fewer context tokens, answer F1 {f.value:.1f} vs {f.baseline_value:.1f} uncompressed"
        " ({f.n_questions} generated questions, 4 BM25 passages in 2 clusters, SmolLM2-135M reader and summariser)",
        file="bench_results/compression_context.json",
        rows={
            "f": {"method": "crag@0.5", "metric": "answer_f1"},
            "t": {"method": "crag@0.5", "metric": "token_savings"},
        },
    ),
    benchmark=(
        "PYTHONPATH=. python benchmarks/compression_context.py --rates 0.5 --passages 4 --answer-tokens 24"
        " --json bench_results/compression_context.json"
    ),
    package="hf_tokens.pipelines.crag",
    usage=(
        "from transformers import pipeline\n"
        "import hf_tokens.pipelines.crag.pipeline  # registers the 'clustered-rag' task\n"
        "crag = pipeline('clustered-rag', model=llm, tokenizer=tok, encoder=enc, encoder_tokenizer=enc_tok)\n"
        "crag({'passages': retrieved, 'question': q}, summary_tokens=64)['context']"
    ),
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ClusteredRAGPipeline": ".pipeline",
        "CRAGConfig": ".pipeline",
        "crag_context": ".cluster",
        "CRAGResult": ".cluster",
        "kmeans": ".cluster",
    },
)
