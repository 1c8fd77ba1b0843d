"""PAWN vs the zero-shot statistics on LLM-vs-human text, in-distribution and cross-generator.

Data (``benchmarks/data/detection_data.py llm-text``): human continuations of offline-corpus prefixes vs SmolLM2
samples from the same prefixes (``llm_text_<T>.jsonl``) and, for the cross-generator split, vs Qwen2.5-Coder-0.5B
samples (``llm_text_<T>_qwen.jsonl``). Every method reads the continuation text alone, scored by SmolLM2-135M.
Pairs (human and machine of one prefix) are never split: the last ``--train`` prefixes of the SmolLM2 file train
PAWN, the remaining ones are the in-distribution test set; the Qwen file's prefixes not used in training are the
cross-generator test set (train on SmolLM2 texts, test on Qwen's).

Arms: PAWN (head trained on cached features for ``--epochs`` epochs or ``--train-seconds`` CPU seconds), and from
the same SmolLM2 forward: log-likelihood, log-rank, entropy (lower = machine), Fast-DetectGPT (analytical), the
zero-shot test's ``-|log-PPL - entropy|``. Reported: AUROC and TPR at 1% FPR per split.

    PYTHONPATH=. python benchmarks/pawn.py --json bench_results/pawn.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from hf_tokens.analysis import detection_scores as ds
from hf_tokens.analysis.token_stats import token_stats
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: build it with benchmarks/data/detection_data.py (see its docstring)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _zero_shot(model: Any, tok: Any, texts: list[str], batch: int) -> dict[str, list[float]]:
    from hf_tokens.pipelines.zero_shot_detection.statistic import ZeroShotDetectionConfig, zero_shot_test

    out: dict[str, list[float]] = {}
    for s in range(0, len(texts), batch):
        st = token_stats(model, tok, texts[s : s + batch], rank=True, logp_std=True)
        t = zero_shot_test(st, ZeroShotDetectionConfig(), model.config.vocab_size)
        vals = {
            "log_likelihood": ds.log_likelihood(st),
            "log_rank": ds.log_rank(st),
            "entropy(low=machine)": -st.mean("entropy"),
            "fast_detectgpt": ds.fast_detectgpt(st),
            "zero-shot-detection": -t["statistic"].abs(),
        }
        for k, v in vals.items():
            out.setdefault(k, []).extend(v.tolist())
    return out


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--data", type=Path, default=Path(".cache/detection"))
    parser.add_argument("--tokens", type=int, default=64, help="continuation length of the data files")
    parser.add_argument("--train", type=int, default=40, help="last prefixes (pairs) of the SmolLM2 file to train on")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--train-seconds", type=float, default=300.0, help="CPU budget of PAWN's training")
    parser.add_argument("--cache", type=Path, default=Path(".cache/pawn_features"))
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    setup_torch(args)
    from hf_tokens.assets import load_model
    from hf_tokens.pipelines.pawn import PawnConfig, cache_features, load_features, predict, train_pawn

    model, tok = load_model("smollm2-135m", dtype=torch.float32)
    bench = Benchmark("pawn", "SmolLM2-135M-Instruct", device=args.device, quick=args.quick)
    smol = _rows(args.data / f"llm_text_{args.tokens}.jsonl")
    prefixes = list(dict.fromkeys(r["prefix"] for r in smol))
    train_p = set(prefixes[-args.train :])
    train = [r for r in smol if r["prefix"] in train_p]
    splits = {"in-distribution": [r for r in smol if r["prefix"] not in train_p]}
    qwen_path = args.data / f"llm_text_{args.tokens}_qwen.jsonl"
    if qwen_path.is_file():
        splits["cross-generator(qwen2.5-coder-0.5b)"] = [r for r in _rows(qwen_path) if r["prefix"] not in train_p]
    else:
        bench.note(f"{qwen_path} missing: no cross-generator split")
    t0 = time.time()
    files = cache_features(model, tok, [r["continuation"] for r in train], args.cache, batch_size=args.batch)
    bench.note(f"feature cache of {len(train)} training texts: {time.time() - t0:.0f} s")
    cfg = PawnConfig(epochs=args.epochs, time_budget_s=args.train_seconds, seed=0)
    head, log = train_pawn(files, [r["label"] for r in train], cfg)
    bench.note(
        f"PAWN trained on {len(train)} SmolLM2/human texts ({args.train} prefixes): {len(log['loss'])} epochs, "
        f"{log['cpu_seconds']:.0f} CPU s, loss {log['loss'][0]:.3f} -> {log['loss'][-1]:.3f}; "
        f"{sum(p.numel() for p in head.parameters())} trainable parameters"
    )
    bench.note("MiniLM fine-tuned baseline: not run in this session (time)")
    for split, rows in splits.items():
        texts, labels = [r["continuation"] for r in rows], [r["label"] for r in rows]
        extra = {"split": split, "texts": len(rows), "tokens": args.tokens}
        paths = cache_features(model, tok, texts, args.cache, batch_size=args.batch)
        scores = {"pawn": predict(head, [load_features(p) for p in paths]).tolist()}
        scores.update(_zero_shot(model, tok, texts, args.batch))
        for name, values in scores.items():
            bench.add(name, "auroc", ds.auroc(values, labels), **extra)
            bench.add(name, "tpr@1%fpr", ds.tpr_at_fpr(values, labels, 0.01), **extra)
    bench.finish(args.json)


if __name__ == "__main__":
    main()
