"""CRAG, clustered retrieval-augmented generation (Akesson and Santos, arXiv 2406.00029): k-means on MiniLM
embeddings of the retrieved passages, one LLM summary per cluster, the summaries as the reader's context; a
``clustered-rag`` transformers pipeline."""

from hf_tokens.registry import lazy_exports

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
