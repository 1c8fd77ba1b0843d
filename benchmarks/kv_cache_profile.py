"""Where a budgeted cache's decode step spends its time, op by op, against ``DynamicCache`` (issue 14's profiles).

For one context length, every cache prefills the same text, then decodes ``--steps`` teacher-forced tokens (after
``--warmup`` unprofiled ones) under ``torch.profiler``; steps alternate between the caches so machine load falls on
all alike. The output is, per cache, the self CPU time per step of each op (summed over the step) and, for each
method, the ops whose per-step time differs most from ``DynamicCache``'s: where the method pays and where it saves.
``outside_ops_ms`` (wall time minus the ops' self CPU time) is the Python and dispatch cost of the step. A speed
ratio comes from ``benchmarks/kv_cache.py`` (unprofiled, medians); this script explains it.

python benchmarks/kv_cache_profile.py --context-tokens 8192 --methods h2o ems tokenselect --steps 8 \
    --json bench_results/kv_cache_profile_8k.json
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kv_cache import load_texts, make_cache

from hf_tokens._compat import cache_kwarg
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

METHODS = ("h2o", "ems", "tokenselect", "tidaldecode")


def profile_steps(model: Any, ctx: list[int], cont: list[int], names: list[str], budget: float, warmup: int) -> Any:
    """``{name: (ms per step by wall clock, {op: self-CPU ms per step})}`` over the profiled steps."""
    kwarg = cache_kwarg(model)
    caches = {}
    for name in names:
        caches[name] = make_cache(name, model.config, 1.0 if name == "full" else budget)
        model(input_ids=torch.tensor([ctx]), use_cache=True, **{kwarg: caches[name]})
    ops: dict[str, collections.Counter] = {name: collections.Counter() for name in names}
    wall: dict[str, float] = dict.fromkeys(names, 0.0)
    profiled = len(cont) - warmup
    for t, token in enumerate(cont):
        for name in names[t % len(names) :] + names[: t % len(names)]:
            args = {"input_ids": torch.tensor([[token]]), "position_ids": torch.tensor([[len(ctx) + t]])}
            if t < warmup:
                model(**args, use_cache=True, **{kwarg: caches[name]})
                continue
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                start = time.perf_counter()
                model(**args, use_cache=True, **{kwarg: caches[name]})
                wall[name] += time.perf_counter() - start
            for event in prof.key_averages():
                ops[name][event.key] += event.self_cpu_time_total / 1000.0
    return {n: (1000.0 * wall[n] / profiled, {k: v / profiled for k, v in ops[n].items()}) for n in names}


@torch.no_grad()
def main() -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--context-tokens", type=int, default=2048)
    parser.add_argument("--methods", nargs="+", default=["h2o", "ems"], choices=METHODS)
    parser.add_argument("--budget", type=float, default=0.2)
    parser.add_argument("--steps", type=int, default=12, help="profiled decode steps per cache")
    parser.add_argument("--warmup", type=int, default=2, help="unprofiled decode steps first")
    parser.add_argument("--top", type=int, default=8, help="ops listed per cache and per difference")
    parser.add_argument("--text-seed", type=int, default=200)
    args = parser.parse_args()
    setup_torch(args)
    from hf_tokens.assets import load_model

    model, tokenizer = load_model("smollm2-135m")
    model.eval()
    ((corpus, ctx, cont),) = load_texts(tokenizer, 1, args.context_tokens, args.warmup + args.steps, args.text_seed)
    bench = Benchmark("kv_cache_profile", "SmolLM2-135M-Instruct (bundled GGUF, fp32, sdpa)", device=args.device)
    bench.note(
        f"torch.profiler self CPU time per decode step; {args.steps} profiled steps after {args.warmup} warm-up, "
        f"one {corpus} text of {args.context_tokens} tokens, budget {args.budget:.0%}, {args.threads} thread(s); "
        "the profiler adds overhead to every op alike (ratios of wall time here are not the benchmark's ratios)"
    )
    names = ["full", *args.methods]
    result = profile_steps(model, ctx, cont, names, args.budget, args.warmup)
    full_ms, full_ops = result["full"]
    for name, (ms, ops) in result.items():
        top = dict(sorted(ops.items(), key=lambda kv: -kv[1])[: args.top])
        extra = {}
        if name != "full":
            keys = set(ops) | set(full_ops)
            delta = {k: ops.get(k, 0.0) - full_ops.get(k, 0.0) for k in keys}
            extra["largest_differences_ms"] = {
                k: round(v, 3) for k, v in sorted(delta.items(), key=lambda kv: -abs(kv[1]))[: args.top]
            }
        bench.add(
            name,
            "ms_per_step",
            ms,
            baseline="full cache (DynamicCache)",
            baseline_value=full_ms,
            context_tokens=args.context_tokens,
            budget=1.0 if name == "full" else args.budget,
            op_self_cpu_ms=sum(ops.values()),
            outside_ops_ms=ms - sum(ops.values()),  # Python, dispatch and profiler bookkeeping
            top_ops_ms={k: round(v, 3) for k, v in top.items()},
            **extra,
        )
    bench.finish(args.json)


if __name__ == "__main__":
    main()
