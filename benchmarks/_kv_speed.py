"""Decoding speed of the KV caches against ``DynamicCache``, interleaved step by step (a helper of ``kv_cache.py``).

For each context length and text, every cache (the full ``DynamicCache`` and each method at the budget) prefills the
same context, then they decode the same continuation one token at a time, teacher-forced, taking turns: step ``t``
runs every cache once, in an order rotated by ``t``, so load from other processes falls on all of them alike. A
step's time is the model forward alone. ``tokens_per_s`` is 1 / the median wall-clock step time over all steps and
texts; ``cpu_tokens_per_s`` the same from the thread's CPU time (what the step cost when the process ran; robust on
a shared machine). The baseline gets the same texts, positions, threads and steps.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from hf_tokens._compat import cache_kwarg

FULL = "full cache (DynamicCache)"


@torch.no_grad()
def measure_speed(
    model: Any,
    texts: list[tuple[list[int], list[int]]],
    methods: list[str],
    budget: float,
    make_cache: Any,
    progress: Any = None,
) -> dict[str, dict[str, Any]]:
    """``{name: {"tokens_per_s", "cpu_tokens_per_s", "steps", "attended"}}`` for ``"full"`` and each method."""
    names = ["full", *methods]
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    attended: dict[str, list[float]] = {name: [] for name in names}
    kwarg = cache_kwarg(model)  # `cache=` since transformers 5.25, else `past_key_values=`
    for ctx, cont in texts:
        caches = {}
        for name in names:
            caches[name] = make_cache(name, model.config, 1.0 if name == "full" else budget)
            model(input_ids=torch.tensor([ctx]), use_cache=True, **{kwarg: caches[name]})
            if progress is not None:
                progress.update(1)
        for t in range(len(cont)):
            k = t % len(names)
            for name in names[k:] + names[:k]:
                ids, pos = torch.tensor([[cont[t]]]), torch.tensor([[len(ctx) + t]])
                start_wall, start_cpu = time.perf_counter(), time.thread_time()
                model(input_ids=ids, position_ids=pos, use_cache=True, **{kwarg: caches[name]})
                wall[name].append(time.perf_counter() - start_wall)
                cpu[name].append(time.thread_time() - start_cpu)
        for name in names:
            fraction = attended_fraction(name, caches[name])
            if fraction is not None:
                attended[name].append(fraction)
        del caches
    return {
        name: {
            "tokens_per_s": 1.0 / statistics.median(wall[name]),
            "cpu_tokens_per_s": 1.0 / statistics.median(cpu[name]),
            "steps": len(wall[name]),
            "attended": statistics.mean(attended[name]) if attended[name] else None,
        }
        for name in names
    }


def attended_fraction(method: str, cache: Any) -> float | None:
    """Mean fraction of the stored tokens the last decoding query attended to (selection methods only)."""
    if method not in ("tokenselect", "tidaldecode"):
        return None
    layers = cache.layers[cache.selection_layers[0] + 1 :] if method == "tidaldecode" else cache.layers
    return statistics.mean(layer.last_attended / layer.stored_tokens() for layer in layers)


def add_rows(bench: Any, speeds: dict[str, dict[str, Any]], budget: float, context: int, corpora: list[str]) -> None:
    """``tokens_per_s`` rows (ratio against the full cache of the same run) and the speed targets' verdicts."""
    full = speeds["full"]
    for name, r in speeds.items():
        label = "full" if name == "full" else f"{name}@{budget:.0%}"
        bench.add(
            label,
            "tokens_per_s",
            r["tokens_per_s"],
            baseline=FULL,
            baseline_value=full["tokens_per_s"],
            budget=1.0 if name == "full" else budget,
            context_tokens=context,
            cpu_tokens_per_s=r["cpu_tokens_per_s"],
            cpu_ratio=r["cpu_tokens_per_s"] / full["cpu_tokens_per_s"],
            steps=r["steps"],
            attended=r["attended"],
            speed_corpora=corpora,
        )
    # the targets: H2O/EMS >= 0.95x at 2k; H2O, EMS and TokenSelect faster than DynamicCache at 8k
    targets = ("h2o", "ems", "tokenselect") if context > 4096 else ("h2o", "ems")
    bound = 1.0 if context > 4096 else 0.95
    for name in targets:
        if name not in speeds:
            continue
        ratio = speeds[name]["tokens_per_s"] / full["tokens_per_s"]
        cpu_ratio = speeds[name]["cpu_tokens_per_s"] / full["cpu_tokens_per_s"]
        met = ratio > bound if context > 4096 else ratio >= bound
        bench.note(
            f"target {name}@{budget:.0%} decode tokens/s {'>' if context > 4096 else '>='} {bound}x DynamicCache at "
            f"{context} tokens: {ratio:.3f}x (CPU time {cpu_ratio:.3f}x) -> {'met' if met else 'NOT met'}"
        )
