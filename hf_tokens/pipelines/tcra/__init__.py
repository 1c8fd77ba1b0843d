"""TCRA-LLM token compression of retrieved context (Liu et al., arXiv 2310.15556): summarisation compression by an
LLM to an enforced token budget, semantic compression that drops the words whose removal moves the MiniLM sentence
embedding least (a subsequence of the input), and both composed; a ``context-compression`` transformers pipeline."""

from hf_tokens.registry import lazy_exports

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
