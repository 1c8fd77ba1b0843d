"""The measurement of ``benchmarks/speculative.py``: the compared methods, one timed ``generate`` call on a kernel,
the resumable loop over (repetition, prompt) units with its lossless check, and the report of the result rows."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._speculative_stats import (
    BASELINE,
    SAME,
    STEP_COST,
    STEP_COST_NOTE,
    VS_STOCK,
    paired_ratios,
    plot,
    print_summary,
    summarise,
    summary_table,
    title,
)
from hf_tokens.benchmarking import Benchmark, PartialRun

KERNELS = {"both": ("stock", "oneDNN"), "oneDNN": ("oneDNN",), "stock": ("stock",)}


@dataclass
class Method:
    name: str
    kwargs: Callable[[str], dict[str, Any]]  # kernel -> fresh generate kwargs
    slow: bool = False  # run on the first --slow-prompts prompts, first repetition only


def tree_method(
    fn: Callable[..., Any], fresh: dict[str, Callable[[], Any]] | None = None, **fixed: Any
) -> Callable[[str], dict[str, Any]]:
    """Generate kwargs of a tree method: its own linears follow the kernel setting; ``fresh`` values are made per
    run (e.g. a copy of a warm matrix)."""

    def kwargs(kernel: str) -> dict[str, Any]:
        made = {k: make() for k, make in (fresh or {}).items()}
        return {"custom_generate": fn, "onednn_linear": kernel == "oneDNN", **fixed, **made}

    return kwargs


def build_methods(model: Any, tokenizer: Any, args: argparse.Namespace, draft: Any = None) -> list[Method]:
    """The compared methods; assisted decoding and DySpec use ``draft`` (a separate model, ``--draft-model``) or,
    without it, a truncated self-draft of ``--draft-layers`` layers that shares the target's modules."""
    from hf_tokens.generation import aded, dyspec, token_recycling

    if draft is None:
        draft = dyspec.truncated_draft(model, args.draft_layers)  # shares the target's modules (patched with it)
        label, slow = f"{args.draft_layers}-layer self-draft", True
    else:  # a separate, smaller model: not the far-slower-than-greedy setting, so measured like the others
        label, slow = f"{args.draft_model} draft", False
    tr_config = token_recycling.TokenRecyclingConfig(tree_size=args.tree_size)
    tr = token_recycling.generate
    methods = [
        Method(BASELINE, lambda k: {}),
        Method("prompt lookup (HF)", lambda k: {"prompt_lookup_num_tokens": args.lookup_tokens}),
        Method("token-recycling", tree_method(tr, token_recycling_config=tr_config)),
        Method("aded", tree_method(aded.generate)),
        Method(f"assisted (HF), {label}", lambda k: {"assistant_model": draft}, slow),
        Method(f"dyspec, {label}", tree_method(dyspec.generate, draft_model=draft), slow),
    ]
    for size in [int(s) for s in args.sweep.split(",")] if args.sweep else []:
        config = token_recycling.TokenRecyclingConfig(tree_size=size)
        methods.append(Method(f"token-recycling, tree {size}", tree_method(tr, token_recycling_config=config)))
    if args.hot_start:
        warm = warm_matrix(model, tokenizer, args, tr_config)
        kwargs = tree_method(tr, {"token_recycling_state": warm.copy}, token_recycling_config=tr_config)
        methods.append(Method("token-recycling, hot start", kwargs))
    return methods


def warm_matrix(model: Any, tokenizer: Any, args: argparse.Namespace, config: Any) -> Any:
    """The paper's hot start: a matrix inherited from earlier, *different* queries (held-out prompts, seed 1)."""
    import torch

    from hf_tokens.generation import token_recycling
    from hf_tokens.generation.tree.prompts import speculative_prompts

    vocab = model.get_output_embeddings().weight.shape[0]
    state = token_recycling.AdjacencyMatrix(vocab, config.top_k)
    for _, ids in speculative_prompts(tokenizer, args.per_kind, seed=1):
        model.generate(
            torch.tensor([ids], device=model.device),
            max_new_tokens=args.max_new_tokens,
            do_sample=False,
            custom_generate=token_recycling.generate,
            token_recycling_config=config,
            token_recycling_state=state,
        )
    return state


def kernel_context(models: Any, kernel: str) -> contextlib.AbstractContextManager:
    """oneDNN for every ``nn.Linear`` of ``models`` (the target and a separate draft: one model or a tuple)."""
    from hf_tokens.generation import onednn_linears

    models = models if isinstance(models, tuple) else (models,)
    return onednn_linears(*models, min_rows=1) if kernel == "oneDNN" else contextlib.nullcontext()


def run_once(models: tuple, ids: Any, kwargs: dict[str, Any], kernel: str, max_new: int, sync: Any) -> tuple:
    """(output ids, seconds, target forwards) of one ``generate`` call of ``models[0]`` (the target); every model
    in ``models`` runs on ``kernel``."""
    model = models[0]
    calls = [0]
    handle = model.register_forward_pre_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    try:
        with kernel_context(models, kernel):
            sync()
            start = time.perf_counter()
            out = model.generate(ids, max_new_tokens=max_new, do_sample=False, **kwargs)
            sync()
            seconds = time.perf_counter() - start
    finally:
        handle.remove()
    return out, seconds, calls[0]


def first_difference(a: Any, b: Any) -> int:
    n = min(a.shape[1], b.shape[1])
    diff = (a[0, :n] != b[0, :n]).nonzero()
    return int(diff[0]) if len(diff) else n


@dataclass
class Runs:
    """Everything measured so far: seconds per (method, kernel, prompt) and repetition, tokens and forwards of the
    first repetition, and the outputs that differed from greedy's (should stay empty)."""

    prompts: list[tuple[str, Any]]
    models: tuple  # the target, then a separate draft if any (every one runs on the kernel of the measurement)
    methods: list[Method]
    kernels: tuple[str, ...]
    seconds: dict[tuple[str, str, int], dict[int, float]]
    tokens: dict[tuple[str, str, int], tuple[int, int]]  # (new tokens, target forwards after the prompt)
    greedy: dict[tuple[str, int], Any]  # plain greedy output per (kernel, prompt)
    mismatches: list[str]


def speed_run(model: Any, tokenizer: Any, args: argparse.Namespace, sync: Any, draft: Any = None) -> None:
    import torch

    from hf_tokens.generation.tree.prompts import speculative_prompts

    kernels = ("stock",) if args.device.startswith("cuda") else KERNELS[args.kernels]
    prompts = [
        (k, torch.tensor([ids], device=model.device)) for k, ids in speculative_prompts(tokenizer, args.per_kind)
    ]
    models = (model,) if draft is None else (model, draft)
    runs = Runs(prompts, models, build_methods(model, tokenizer, args, draft), kernels, {}, {}, {}, [])
    # the raw measurements of every finished (repetition, prompt) unit: a stopped run resumes from them
    partial = PartialRun(Path(args.json) if args.json else None, run_key(args, kernels))
    done = {replay(runs, record) for record in partial.units.values()}
    if done:
        print(f"resuming from {partial.path}: {len(done)} (repetition, prompt) units already measured", flush=True)
    units = [(rep, p) for rep in range(args.repeats) for p in range(len(prompts))]
    slow_prompts = set(range(min(args.slow_prompts, len(prompts))))
    for kernel in kernels:  # warm-up: one short run of every method on every kernel (allocator, oneDNN primitives)
        for m in runs.methods:
            run_once(models, prompts[0][1], m.kwargs(kernel), kernel, 8, sync)
    started = time.time()
    for rep, p in units:
        if (rep, p) in done:
            continue
        kind, ids = prompts[p]
        mismatches_before = len(runs.mismatches)
        for kernel in kernels if (rep + p) % 2 == 0 else kernels[::-1]:
            for m in runs.methods:
                if m.slow and (rep > 0 or p not in slow_prompts):
                    continue
                out, sec, calls = run_once(models, ids, m.kwargs(kernel), kernel, args.max_new_tokens, sync)
                runs.seconds.setdefault((m.name, kernel, p), {})[rep] = sec
                if rep == 0:
                    runs.tokens[(m.name, kernel, p)] = (out.shape[1] - ids.shape[1], calls - 1)
                    check_output(model, runs, m.name, kernel, p, out)
        done.add((rep, p))
        partial.put(f"{rep}:{p}", unit_record(runs, rep, p, runs.mismatches[mismatches_before:]))
        elapsed = (time.time() - started) / 60
        print(f"rep {rep + 1}/{args.repeats} prompt {p + 1}/{len(prompts)} ({kind}) {elapsed:.1f} min", flush=True)
        report(runs, args, f"{len(done)} of {len(units)} (repetition, prompt) units done")
    if runs.mismatches:
        raise AssertionError("outputs differ from plain greedy: " + "; ".join(runs.mismatches))
    partial.finish()  # complete: the result JSON holds every per-prompt ratio


def run_key(args: argparse.Namespace, kernels: tuple[str, ...]) -> dict[str, Any]:
    """Everything that changes what a unit measures: a partial file from another setting is refused."""
    names: tuple[str, ...] = ("model", "device", "threads", "max_new_tokens", "per_kind", "slow_prompts", "repeats")
    names += ("dtype", "tree_size", "draft_layers", "draft_model", "lookup_tokens", "sweep", "hot_start")
    return {"kernels": list(kernels), **{n: getattr(args, n) for n in names}}


def unit_record(runs: Runs, rep: int, p: int, mismatches: list[str]) -> dict[str, Any]:
    """What unit (``rep``, prompt ``p``) added to ``runs``, as JSON: its timings, and on the first repetition its
    token counts and greedy outputs; :func:`replay` puts it back."""
    first = rep == 0
    return {
        "unit": [rep, p],
        "seconds": [[*k, by_rep[rep]] for k, by_rep in runs.seconds.items() if k[2] == p and rep in by_rep],
        "tokens": [[*k, *v] for k, v in runs.tokens.items() if first and k[2] == p],
        "greedy": [[k[0], out[0].tolist()] for k, out in runs.greedy.items() if first and k[1] == p],
        "mismatches": mismatches,
    }


def replay(runs: Runs, record: dict[str, Any]) -> tuple[int, int]:
    """Put a :func:`unit_record` back into ``runs``; returns its (repetition, prompt)."""
    import torch

    rep, p = record["unit"]
    for name, kernel, _, sec in record["seconds"]:
        runs.seconds.setdefault((name, kernel, p), {})[rep] = sec
    for name, kernel, _, new, forwards in record["tokens"]:
        runs.tokens[(name, kernel, p)] = (new, forwards)
    for kernel, ids in record["greedy"]:
        runs.greedy[(kernel, p)] = torch.tensor([ids], device=runs.prompts[p][1].device)
    runs.mismatches.extend(record["mismatches"])
    return rep, p


def check_output(model: Any, runs: Runs, name: str, kernel: str, p: int, out: Any) -> None:
    """Keep greedy's output as the reference; record any method output that differs from it (with the top-2 logit
    gap of greedy's path at the first difference: a near-tie or a real error)."""
    import torch

    if name == BASELINE:
        runs.greedy[(kernel, p)] = out
        return
    reference = runs.greedy[(kernel, p)]
    if torch.equal(out, reference):
        return
    at = first_difference(out, reference)
    with torch.no_grad(), kernel_context(model, kernel):
        top = model(input_ids=reference[:, :at]).logits[0, -1].float().topk(2).values
    prompt_len = runs.prompts[p][1].shape[1]
    runs.mismatches.append(
        f"{name} [{kernel}] prompt {p} ({runs.prompts[p][0]}) from new token {at - prompt_len} "
        f"(greedy's top-2 logit gap there: {float(top[0] - top[1]):.2e})"
    )
    print("OUTPUT DIFFERS:", runs.mismatches[-1], flush=True)


def report(runs: Runs, args: argparse.Namespace, progress: str) -> None:
    """The JSON rows, table and plot from the units measured so far."""
    import torch

    kinds = [k for k, _ in runs.prompts]
    bench = Benchmark("speculative", args.model, device=args.device, quick=args.quick)
    bench.note(
        f"greedy, {args.max_new_tokens} new tokens, {len(kinds)} prompts ({args.per_kind} per kind), {args.dtype}, "
        f"batch 1, {args.repeats} repetitions; {progress}"
        + (
            f"; slow methods on the first {args.slow_prompts} prompts, first repetition only"
            if any(m.slow for m in runs.methods)
            else ""
        )
    )
    bench.note(f"torch threads = {torch.get_num_threads()}; the 2-core machine was shared with other jobs")
    bench.note("kernels: stock = PyTorch CPU linears; oneDNN = every nn.Linear on oneDNN (onednn_linears, min_rows=1)")
    if len(runs.models) > 1:
        bench.note(
            f"assisted decoding and DySpec draft with {args.draft_model}, a separate model whose linears run on the "
            "same kernel as the target's; its tokenizer's ids, special tokens and head size equal the target's"
        )
    bench.note(f"prompt kinds in order: {kinds}")
    if len(runs.kernels) == 2:
        both = [p for p in range(len(kinds)) if ("stock", p) in runs.greedy and ("oneDNN", p) in runs.greedy]
        same = sum(bool(torch.equal(runs.greedy[("stock", p)], runs.greedy[("oneDNN", p)])) for p in both)
        bench.note(f"plain greedy on oneDNN equals plain greedy on the stock kernel on {same}/{len(both)} prompts")
    bench.note(
        "every method's output equals plain greedy's on its kernel"
        if not runs.mismatches
        else "OUTPUTS DIFFER from plain greedy: " + "; ".join(runs.mismatches)
    )
    for kernel in runs.kernels:
        for m in runs.methods:
            index = [p for p in range(len(kinds)) if (m.name, kernel, p) in runs.tokens]
            if not index:
                continue
            sub_kinds = [kinds[p] for p in index]
            name, base_name = f"{m.name} [{kernel}]", f"{BASELINE} [{kernel}]"
            t = {k: [runs.seconds[(k, kernel, p)] for p in index] for k in (m.name, BASELINE)}
            new = sum(runs.tokens[(m.name, kernel, p)][0] for p in index)
            steps = sum(runs.tokens[(m.name, kernel, p)][1] for p in index)
            per_step = (new - len(index)) / max(steps, 1)
            time_m, time_g = (sum(statistics.median(s.values()) for s in t[k]) for k in (m.name, BASELINE))
            bench.add(name, "tokens/s", new / time_m, baseline=base_name, baseline_value=new / time_g, n=len(index))
            bench.add(name, "tokens/step", per_step, n=len(index))
            if m.name != BASELINE:
                ratios = [paired_ratios(g, s) for g, s in zip(t[BASELINE], t[m.name])]
                summarise(bench, name, SAME, ratios, sub_kinds, index, baseline=base_name, kernel=kernel)
                # tokens/step over the speed-up of the summed times: seconds per step in greedy tokens
                cost = per_step * time_m / time_g
                bench.add(name, STEP_COST, cost, n=len(index), baseline=base_name, note=STEP_COST_NOTE)
            if kernel == "oneDNN" and "stock" in runs.kernels:
                stock = {k: [runs.seconds[(k, "stock", p)] for p in index] for k in (m.name, BASELINE)}
                ratios = [paired_ratios(g, s) for g, s in zip(stock[BASELINE], t[m.name])]
                summarise(bench, name, VS_STOCK, ratios, sub_kinds, index, baseline=f"{BASELINE} [stock]")
                gain = [paired_ratios(g, s) for g, s in zip(stock[m.name], t[m.name])]
                summarise(bench, name, "oneDNN gain (vs the same method [stock])", gain, sub_kinds, index)
    data = bench.finish(args.json)
    print_summary(summary_table(data["rows"]))
    if args.plot:
        plot(args.plot, summary_table(data["rows"]), title(data))
