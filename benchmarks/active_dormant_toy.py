"""Extreme-token phenomena on the Bigram-Backcopy task (Active-Dormant Attention Heads, arXiv 2410.13835, Section 2)
and the paper's two mitigations: softmax + AdamW (the baseline), ReLU attention + AdamW, softmax + SGD (momentum 0.9).

Every arm trains the same 1-layer Llama (``--layers``, ``--hidden``, one head) from the same initialisation seed on
the same fresh BB batches (``--steps`` x ``--batch`` sequences of ``--length`` tokens, bigram of the ``fortunes``
characters, the 3 most frequent characters as triggers), for each of ``--seeds`` seeds; then on ``--eval`` held-out
sequences: the sink share (attention on BOS over the row's total) of non-trigger queries (the dormant role) and of
trigger queries (the active, copying role), the BOS value-state norm over the others' (value drain), the BOS
residual norm over the others' median (residual peak), backcopy accuracy on trigger positions and the excess NLL
over the bigram's entropy on the other positions (did the arm learn the task?). Rows: the mean over seeds, with
each seed's value.

    python benchmarks/active_dormant_toy.py --json bench_results/active_dormant_toy.json
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from hf_tokens.analysis.active_dormant_heads.bigram_backcopy import (
    ARMS,
    BigramBackcopy,
    ToyConfig,
    bb_report,
    train_arm,
)
from hf_tokens.assets.text import load_text
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

METRICS = (
    "sink_share_non_trigger",
    "sink_share_trigger",
    "value_drain",
    "residual_peak",
    "backcopy_accuracy",
    "bigram_excess_nll",
)


def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per arm")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 3000; quick 200)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--adam-lr", type=float, default=3e-3)
    parser.add_argument("--sgd-lr", type=float, default=0.1)
    parser.add_argument("--eval", type=int, default=64, help="held-out sequences")
    args = parser.parse_args()
    setup_torch(args)
    steps = args.steps or (200 if args.quick else 3000)
    task = BigramBackcopy(load_text("fortunes"), vocab=64, triggers=3)
    held_out = task.sample(args.eval, args.length, torch.Generator().manual_seed(10_000))
    bench = Benchmark("active_dormant_toy", f"Llama {args.layers}x{args.hidden}, 1 head, BB task", quick=args.quick)
    bench.note(
        f"CPU budget per arm and seed: {steps} steps x {args.batch} sequences x {args.length} tokens, "
        f"{args.threads} thread(s); AdamW lr {args.adam_lr}, SGD lr {args.sgd_lr} (momentum 0.9), weight decay 1e-4; "
        f"triggers {[task.chars[i] for i in task.triggers]}; {args.eval} held-out sequences; seeds 0..{args.seeds - 1}"
    )
    results: dict[str, list[dict]] = {arm: [] for arm in args.arms}
    for seed in range(args.seeds):
        for arm in args.arms:
            cfg = ToyConfig(
                layers=args.layers, hidden=args.hidden, length=args.length, steps=steps, batch=args.batch,
                adam_lr=args.adam_lr, sgd_lr=args.sgd_lr, seed=seed,
            )  # fmt: skip
            start = time.perf_counter()
            model, losses = train_arm(task, cfg, arm)
            report = bb_report(model, task, held_out)
            report["train_s"], report["final_loss"] = time.perf_counter() - start, statistics.fmean(losses[-50:])
            results[arm].append(report)
            print(f"seed {seed} {arm}: " + ", ".join(f"{m} {report[m]:.3f}" for m in METRICS), flush=True)
    for arm, reports in results.items():
        for metric in (*METRICS, "final_loss"):
            values = [r[metric] for r in reports]
            bench.add(arm, metric, statistics.fmean(values), per_seed=[round(v, 4) for v in values])
        bench.add(arm, "train_s", statistics.median(r["train_s"] for r in reports))
    bench.finish(args.json)


if __name__ == "__main__":
    main()
