"""Headline pieces shared by the budgeted KV caches' registrations: the rows the KV-cache benchmarks write for a
method label (e.g. ``"h2o@20%"``) and the command of the pooled 16-text runs."""

from __future__ import annotations

POOLED = "bench_results/kv_cache_targets_pooled.json"
STRUCTURED = "bench_results/kv_cache_structured.json"
SPEED_8K = "bench_results/kv_cache_speed_8k.json"
POOL_BENCHMARK = (
    "python benchmarks/kv_cache_pool.py bench_results/kv_cache_targets.json "
    "bench_results/kv_cache_targets_seed200.json  # the two 16-text runs: see its docstring"
)


def corpus_rows(method: str, *, worst: bool = True) -> dict[str, dict[str, str]]:
    """Row selectors of ``method`` by corpus: ``hw``, its worst corpus in the pooled runs (only with ``worst``), and
    ``hd`` / ``hi``, the repetitive structured texts (dpkg changelog, ISO code tables)."""
    rows = {"hw": {"file": POOLED, "method": method, "metric": "worst_corpus_ppl"}} if worst else {}
    for alias, corpus in (("hd", "dpkg-changelog"), ("hi", "iso-codes")):
        rows[alias] = {"file": STRUCTURED, "method": method, "metric": "corpus_ppl", "corpus": corpus}
    return rows


def speed_rows(method: str) -> dict[str, dict[str, str]]:
    """Row selector ``s8``: ``method``'s decoding tokens/s at 8k tokens of context."""
    return {"s8": {"file": SPEED_8K, "method": method, "metric": "tokens_per_s"}}
