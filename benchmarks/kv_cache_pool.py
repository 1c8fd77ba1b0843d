"""Pool several ``kv_cache.py`` runs on disjoint texts and judge the issue's targets on all their texts together.

Each run's JSON carries per-text perplexities (``text_ppl``) for the full cache and every method; the pooled
perplexity of a method is ``exp(mean log ppl)`` over all texts (every text has the same number of continuation
tokens), so its ratio to the pooled full cache is the geometric mean of the per-text ratios. Methods are compared
in pairs text by text (``kv_cache.paired_ratio``: bootstrap interval over the texts). Only methods and budgets present
in every run are pooled. The runs should use different ``--text-seed`` ranges and must use the same context and
continuation lengths. Per-corpus rows (``corpus_ppl``, ``worst_corpus_ppl``, as in ``kv_cache.py``) come from each
text's corpus (``text_corpus``; runs written before it was recorded drew text ``i`` from ``--legacy-corpora[i % n]``,
``jargon licenses python-stdlib fortunes``)::

    python benchmarks/kv_cache_pool.py bench_results/kv_cache_targets.json \\
        bench_results/kv_cache_targets_seed200.json --json bench_results/kv_cache_targets_pooled.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kv_cache import FULL, add_corpus_rows, check_targets

from hf_tokens.benchmarking import Benchmark

LEGACY_CORPORA = ("jargon", "licenses", "python-stdlib", "fortunes")


def load_run(path: Path, legacy_corpora: tuple[str, ...] = LEGACY_CORPORA) -> dict[tuple[str, float], dict[str, Any]]:
    """``{(method, budget): {"text_ppl", "text_corpus", "peak_mib", "attended"}}`` of one run's JSON (``method`` as
    in kv_cache); a run without ``text_corpus`` drew text ``i`` from ``legacy_corpora[i % n]``."""
    data = json.loads(path.read_text())
    out: dict[tuple[str, float], dict[str, Any]] = {}
    for row in data["rows"]:
        method = row["method"].rsplit("@", 1)[0]
        entry = out.setdefault((method, float(row["budget"])), {"attended": None})
        if row["metric"] == "ppl":
            if "text_ppl" not in row:
                raise SystemExit(f"{path}: row {row['method']} has no per-text perplexities (text_ppl); re-run it")
            entry["text_ppl"] = row["text_ppl"]
            n = len(row["text_ppl"])
            entry["text_corpus"] = row.get("text_corpus") or [
                legacy_corpora[i % len(legacy_corpora)] for i in range(n)
            ]
        elif row["metric"] == "peak_mib":
            entry["peak_mib"] = row["value"]
        elif row["metric"] == "attended_fraction":
            entry["attended"] = row["value"]
    return out


def pool(runs: list[dict[tuple[str, float], dict[str, Any]]]) -> tuple[dict[tuple[str, float], dict[str, Any]], int]:
    """Pooled results and the number of repeated texts left out.

    Runs on different seeds can still draw the same slice of a small corpus (``licenses`` has 11 slices of a 2k
    context); a text is recognised by its full-cache perplexity and counted once.
    """
    keys = set(runs[0]).intersection(*runs[1:])
    seen: set[float] = set()
    first: list[list[bool]] = []  # per run, per text: first time this text appears
    for run in runs:
        flags = []
        for p in run[("full", 1.0)]["text_ppl"]:
            flags.append(p not in seen)
            seen.add(p)
        first.append(flags)
    pooled = {}
    for key in keys:
        pairs = [
            (p, c)
            for run, flags in zip(runs, first)
            for p, c, new in zip(run[key]["text_ppl"], run[key]["text_corpus"], flags)
            if new
        ]
        texts = [p for p, _ in pairs]
        attended = [run[key]["attended"] for run in runs if run[key]["attended"] is not None]
        pooled[key] = {
            "ppl": math.exp(statistics.mean(math.log(p) for p in texts)),
            "text_ppl": texts,
            "text_corpus": [c for _, c in pairs],
            "peak_mib": max(run[key]["peak_mib"] for run in runs),
            "attended": statistics.mean(attended) if attended else None,
        }
    return pooled, sum(not f for flags in first for f in flags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="kv_cache.py JSON results on disjoint texts")
    parser.add_argument("--context-tokens", type=int, default=2048, help="context length the runs used")
    parser.add_argument("--continuation", type=int, default=128, help="continuation length the runs used")
    parser.add_argument(
        "--legacy-corpora",
        nargs="+",
        default=list(LEGACY_CORPORA),
        help="corpora of runs without text_corpus rows (text i from corpora[i %% n])",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if len(args.runs) < 2:
        raise SystemExit("give at least two runs to pool")
    results, repeats = pool([load_run(p, tuple(args.legacy_corpora)) for p in args.runs])
    full = results[("full", 1.0)]
    bench = Benchmark("kv_cache_pooled", "SmolLM2-135M-Instruct (bundled GGUF, fp32, sdpa)")
    bench.note(
        f"pooled over {len(full['text_ppl'])} distinct texts from {', '.join(str(p) for p in args.runs)} "
        f"({repeats} text(s) drawn by more than one run counted once)"
    )
    for (method, budget), r in sorted(results.items()):
        bench.add(
            "full" if method == "full" else f"{method}@{budget:.0%}",
            "ppl",
            r["ppl"],
            baseline=FULL,
            baseline_value=full["ppl"],
            budget=budget,
            texts=len(r["text_ppl"]),
        )
    add_corpus_rows(bench, results)
    budgets = sorted({b for (m, b) in results if m != "full"})
    check_targets(bench, results, budgets, args.context_tokens + args.continuation - 1)
    bench.finish(args.json)


if __name__ == "__main__":
    main()
