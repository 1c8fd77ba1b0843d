"""Token-level RAG metrics and synthetic span-anchored questions (Jadon et al., arXiv 2502.15854): recall,
precision, IoU and Precision Omega between retrieved chunks and reference spans, and the LLM pipeline that writes
questions whose evidence is validated by exact span matching."""

from hf_tokens.registry import lazy_exports

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
