"""XTR, the contextualized token retriever (Lee et al., arXiv 2304.01982): an encoder trained with the in-batch
token retrieval loss, documents ranked from the retrieved tokens only with missing-similarity imputation; ColBERT
MaxSim over all document tokens as the baseline; a ``token-retrieval`` transformers pipeline."""

from hf_tokens.registry import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "TokenRetrievalPipeline": ".pipeline",
        "XTRConfig": ".pipeline",
        "TokenIndex": ".index",
        "BM25": ".index",
        "xtr_loss": ".scoring",
        "xtr_aggregate": ".scoring",
        "xtr_training_scores": ".scoring",
        "maxsim_scores": ".scoring",
    },
)
