"""CRAG, clustered retrieval-augmented generation (Akesson and Santos, arXiv 2406.00029): k-means on MiniLM
embeddings of the retrieved passages, one LLM summary per cluster, the summaries as the reader's context; a
``clustered-rag`` transformers pipeline."""

from hf_tokens.registry import lazy_exports, register
from hf_tokens.results import Headline

RATES = "bench_results/compression_context_rates.json"

register(
    "crag",
    status="experimental",
    extension="pipelines",
    entry="hf_tokens.pipelines.crag.pipeline:ClusteredRAGPipeline",
    config="hf_tokens.pipelines.crag.pipeline:CRAGConfig",
    contract="hf_tokens.pipelines.crag.pipeline:contract",
    headline=Headline(
        "{t.pct.value:.0f}% fewer context tokens, answer F1 {f.value:.1f} vs {f.baseline_value:.1f} uncompressed"
        " (change: 95% CI {f.ci95_diff[0]:+.1f} to {f.ci95_diff[1]:+.1f}; {f.n_questions} generated questions,"
        " 4 BM25 passages in 2 clusters, SmolLM2-135M reader and summariser);"
        " asked for 3x / 5x ({f3.n_questions} questions): {t3.pct.value:.0f}% / {t5.pct.value:.0f}% fewer tokens,"
        " F1 {f3.value:.1f} /"
        " {f5.value:.1f} (random drop {r3.value:.1f} / {r5.value:.1f}); reference-answer NLL vs random drop"
        " {n3.value:+.2f} (95% CI {n3.ci95[0]:+.2f} to {n3.ci95[1]:+.2f}) / {n5.value:+.2f} ({n5.ci95[0]:+.2f} to"
        " {n5.ci95[1]:+.2f}); uncompressed NLL {u.value:.2f}, CRAG at 5x {n5a.value:.2f}",
        file="bench_results/compression_context.json",
        rows={
            "f": {"method": "crag@0.5", "metric": "answer_f1"},
            "t": {"method": "crag@0.5", "metric": "token_savings"},
            "t3": {"file": RATES, "method": "crag@0.33", "metric": "token_savings"},
            "t5": {"file": RATES, "method": "crag@0.2", "metric": "token_savings"},
            "f3": {"file": RATES, "method": "crag@0.33", "metric": "answer_f1"},
            "f5": {"file": RATES, "method": "crag@0.2", "metric": "answer_f1"},
            "r3": {"file": RATES, "method": "random-drop@0.33", "metric": "answer_f1"},
            "r5": {"file": RATES, "method": "random-drop@0.2", "metric": "answer_f1"},
            "n3": {"file": RATES, "method": "crag@0.33", "metric": "answer_nll_minus_random_drop"},
            "n5": {"file": RATES, "method": "crag@0.2", "metric": "answer_nll_minus_random_drop"},
            "n5a": {"file": RATES, "method": "crag@0.2", "metric": "answer_nll"},
            "u": {"file": RATES, "method": "none", "metric": "answer_nll"},
        },
    ),
    benchmark=(
        "PYTHONPATH=. python benchmarks/compression_context.py --data benchmarks/data/rag_eval_qwen15.json --rates 0.5"
        " --passages 4 --answer-tokens 24 --json bench_results/compression_context.json  # 3x / 5x: --rates 0.33,0.2"
        " --json bench_results/compression_context_rates.json"
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
