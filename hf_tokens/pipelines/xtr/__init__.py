"""XTR, the contextualized token retriever (Lee et al., arXiv 2304.01982): an encoder trained with the in-batch
token retrieval loss, documents ranked from the retrieved tokens only with missing-similarity imputation; ColBERT
MaxSim over all document tokens as the baseline; a ``token-retrieval`` transformers pipeline."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

register(
    "xtr",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.xtr.pipeline:TokenRetrievalPipeline",
    config="hf_tokens.pipelines.xtr.pipeline:XTRConfig",
    contract="hf_tokens.pipelines.xtr.pipeline:contract",
    headline=Headline(
        "nDCG@10 {x.value:.3f} vs ColBERT MaxSim {c.value:.3f}, BM25 {x.baseline_value:.3f} ({x.n_questions} generated"
        " questions, 64-token chunks); scoring reads {s.pct.ratio:.1f}% of MaxSim's similarities",
        file="bench_results/rag.json",
        rows={
            "x": {"method": "xtr@64", "metric": "ndcg@10"},
            "c": {"method": "colbert-maxsim@64", "metric": "ndcg@10"},
            "s": {"method": "xtr@64", "metric": "similarities_scored"},
        },
    ),
    benchmark="PYTHONPATH=. python benchmarks/rag.py --json bench_results/rag.json",
    package="hf_tokens.pipelines.xtr",
    usage=(
        "from transformers import pipeline\n"
        "import hf_tokens.pipelines.xtr.pipeline  # registers the 'token-retrieval' task\n"
        "retriever = pipeline('token-retrieval', model=encoder, tokenizer=tokenizer, documents=chunks)\n"
        "retriever('How do I open a gzip file?', top_k=5)  # scoring='maxsim' gives the ColBERT baseline"
    ),
)

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
