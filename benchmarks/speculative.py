"""Speculative decoding inside ``model.generate`` against plain greedy ``generate``, every method on the same
linear kernel: Token Recycling, ADED, DySpec, transformers' prompt lookup and assisted decoding.

Design (what makes the comparison fair and the result general):

* Two kernel settings, both reported. ``stock``: PyTorch's own CPU linears everywhere (the tree methods run with
  ``onednn_linear=False``). ``oneDNN``: every call runs inside ``onednn_linears(model, min_rows=1)``, so every
  ``nn.Linear`` of every method (plain greedy, prompt lookup, assisted decoding and its draft, the tree methods and
  DySpec's draft) runs on oneDNN, one-row decoding steps included. Each method is compared with plain greedy on the
  same kernel; the oneDNN rows also give the ratio to stock greedy (what a user of plain ``generate`` has) and the
  method's own gain from the kernel.
* Prompts: ``--per-kind`` (5) prompts of each of five kinds (chat, code, summarise, extract, repetition) from
  :func:`hf_tokens.generation.tree.prompts.speculative_prompts`: 40 chat questions, passages of Python source, the
  Jargon File and licence texts, several instructions per kind. Per prompt, the speed-up is the median over
  repetitions of greedy seconds / method seconds, paired within a repetition (same prompt, same kernel, run back to
  back, so machine load hits both). Reported: every prompt's ratio, per-kind medians with n, and the median over
  prompts with a 95% bootstrap interval (prompts resampled within each kind), plus mean, min and max.
* Lossless: in the first repetition every output must equal plain greedy's output on the same kernel token for
  token; the script stops with an error otherwise. Whether oneDNN greedy equals stock greedy is recorded.
* Drafts: without ``--draft-model``, assisted decoding and DySpec use a truncated self-draft (``--draft-layers``
  layers of the target, sharing its modules); being far slower than greedy on CPU, they run on the first
  ``--slow-prompts`` prompts in the first repetition only. ``--draft-model NAME`` gives both a separate model (e.g.
  Qwen2.5-Coder-0.5B for the 1.5B target), checked to share the target's token ids, measured on every prompt; its
  linears are patched with the target's, so every model of every method runs on the same kernel.
* Step cost: seconds per target forward in plain greedy's seconds per token (draft forwards included), so that
  speed-up = tokens/step / step cost for the summed times; ``--kernels oneDNN`` measures one kernel only.
* ``--dtype bfloat16`` (with ``--kernels stock``: PyTorch's own bfloat16 CPU linears) halves the weights' memory,
  for machines that cannot hold a float32 target and draft; float32 is the default and the library's setting.
* Tokens/step: new tokens after the first / target forwards after the prompt's (1.0 for plain greedy).
* A long run can be cut short: after every prompt the raw measurements go to ``<--json>.partial`` and the result
  JSON and plot are rewritten from what is done; the same command resumes from the ``.partial`` file (deleted when
  the run completes; a file written with other settings is refused).

    OMP_NUM_THREADS=1 nohup python benchmarks/speculative.py --threads 1 --max-new-tokens 32 --repeats 1 \\
        --json bench_results/speculative.json --plot bench_results/speculative.png > logs/speculative.log &
        # the committed run: 49 min on 1 thread of the 2-core machine at load 15 (64 tokens x 2 repetitions: ~3 h)
    python benchmarks/speculative.py --quick            # < 5 min on 2 cores
    OMP_NUM_THREADS=1 python benchmarks/speculative.py --model qwen2.5-coder-1.5b --draft-model qwen2.5-coder-0.5b \
        --dtype bfloat16 --kernels stock --per-kind 1 --max-new-tokens 32 --repeats 1 \
        --json bench_results/speculative_qwen.json --plot bench_results/speculative_qwen.png
        # the committed Qwen run (36 min at load 15-48); float32 on oneDNN: --dtype float32 --kernels oneDNN (~10 GB)
    python benchmarks/speculative.py --device cuda      # same code on a GPU (stock kernel only)
    python benchmarks/speculative.py --calibrate        # per-level rank acceptance of Token Recycling (template)
    OMP_NUM_THREADS=1 python benchmarks/speculative.py --cost-curve 1,2,4,8,16,32,64,80 \\
        --json bench_results/speculative_cost.json   # forward cost vs tokens, both kernels, causal and tree mask
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

BASELINE = "greedy generate"
STEP_COST = "step cost (greedy tokens)"
STEP_COST_NOTE = (
    "summed method seconds per target forward after the prompt's / summed greedy seconds per new token after the "
    "first (draft forwards included, prefill shared out over the steps): speed-up of the summed times = "
    "tokens/step / step cost"
)
KERNELS = {"both": ("stock", "oneDNN"), "oneDNN": ("oneDNN",), "stock": ("stock",)}
SAME = "speed-up vs greedy, same kernel"
VS_STOCK = "speed-up vs greedy [stock]"


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


def median_ci(values: list[float], kinds: list[str], reps: int = 10000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the median over prompts: prompts are resampled within each kind when
    every kind has at least 2 (the design is balanced by kind), else over all prompts."""
    rng = random.Random(seed)
    groups: dict[str, list[float]] = {}
    for v, k in zip(values, kinds):
        groups.setdefault(k, []).append(v)
    if min(len(g) for g in groups.values()) < 2:
        groups = {"all": list(values)}
    medians = []
    for _ in range(reps):
        sample = [g[rng.randrange(len(g))] for g in groups.values() for _ in g]
        medians.append(statistics.median(sample))
    medians.sort()
    return medians[int(0.025 * reps)], medians[int(0.975 * reps) - 1]


def paired_ratios(num: dict[int, float], den: dict[int, float]) -> float:
    """Median over the repetitions both sides ran of num / den (seconds: > 1 means ``den`` is faster)."""
    return statistics.median(num[r] / den[r] for r in den if r in num)


def ratio_stats(per_prompt: list[list[Any]]) -> dict[str, Any]:
    """Median over prompts with its 95% interval, mean, spread and per-kind medians, from ``per_prompt`` entries
    ``[prompt index, kind, ratio]``."""
    kinds = [k for _, k, _ in per_prompt]
    ratios = [float(r) for _, _, r in per_prompt]
    low, high = median_ci(ratios, kinds)
    per_kind = {}
    for kind in dict.fromkeys(kinds):
        sub = [r for r, k in zip(ratios, kinds) if k == kind]
        per_kind[kind] = {"median": round(statistics.median(sub), 4), "n": len(sub), "min": round(min(sub), 4)}
        per_kind[kind]["max"] = round(max(sub), 4)
    return {
        "value": statistics.median(ratios),
        "ci95": [round(low, 4), round(high, 4)],
        "n": len(ratios),
        "mean": round(statistics.fmean(ratios), 4),
        "min": round(min(ratios), 4),
        "max": round(max(ratios), 4),
        "faster_on": f"{sum(r > 1 for r in ratios)}/{len(ratios)} prompts",
        "per_kind": per_kind,
    }


def summarise(
    bench: Benchmark, name: str, metric: str, ratios: list[float], kinds: list[str], index: list[int], **extra: Any
) -> dict[str, Any]:
    """One row of :func:`ratio_stats` with every prompt's ratio (``per_prompt``: ``[prompt index, kind, ratio]``)."""
    per_prompt = [[p, k, round(r, 4)] for p, k, r in zip(index, kinds, ratios)]
    stats = ratio_stats(per_prompt)
    return bench.add(name, metric, stats.pop("value"), **stats, per_prompt=per_prompt, **extra)


def rescore(path: Path, plot_path: Path | None) -> None:
    """Recompute every row's statistics from its ``per_prompt`` ratios (e.g. after a fix to :func:`ratio_stats`)
    and redraw the plot; the measured ratios themselves are not touched."""
    import json
    import os

    data = json.loads(Path(path).read_text())
    for row in data["rows"]:
        if "per_prompt" in row:
            row.update(ratio_stats(row["per_prompt"]))
    data["notes"].append("statistics recomputed from the per-prompt ratios by `benchmarks/speculative.py --rescore`")
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)
    print(f"rescored {path}")
    print_summary(summary_table(data["rows"]))
    if plot_path:
        plot(plot_path, summary_table(data["rows"]), title(data))


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
    state = state_path(args)
    done = restore(runs, state, run_key(args, kernels)) if state else set()
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
        if state:  # the raw measurements after every prompt: a restarted run resumes from them
            save_state(runs, state, run_key(args, kernels), done)
        elapsed = (time.time() - started) / 60
        print(f"rep {rep + 1}/{args.repeats} prompt {p + 1}/{len(prompts)} ({kind}) {elapsed:.1f} min", flush=True)
        report(runs, args, f"{len(done)} of {len(units)} (repetition, prompt) units done")
    if runs.mismatches:
        raise AssertionError("outputs differ from plain greedy: " + "; ".join(runs.mismatches))
    if state:
        state.unlink()  # complete: the result JSON holds every per-prompt ratio


def state_path(args: argparse.Namespace) -> Path | None:
    """Where the raw measurements of a run with ``--json`` live until it completes (next to the JSON)."""
    return Path(f"{args.json}.partial") if args.json else None


def run_key(args: argparse.Namespace, kernels: tuple[str, ...]) -> dict[str, Any]:
    """Everything that changes what a unit measures: a state file from another setting is refused."""
    names: tuple[str, ...] = ("model", "device", "threads", "max_new_tokens", "per_kind", "slow_prompts", "repeats")
    names += ("dtype", "tree_size", "draft_layers", "draft_model", "lookup_tokens", "sweep", "hot_start")
    return {"kernels": list(kernels), **{n: getattr(args, n) for n in names}}


def save_state(runs: Runs, path: Path, key: dict[str, Any], done: set[tuple[int, int]]) -> None:
    import json
    import os

    state = {
        "key": key,
        "done": sorted(done),
        "seconds": [[*k, rep, sec] for k, by_rep in runs.seconds.items() for rep, sec in by_rep.items()],
        "tokens": [[*k, *v] for k, v in runs.tokens.items()],
        "greedy": [[*k, out[0].tolist()] for k, out in runs.greedy.items()],
        "mismatches": runs.mismatches,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def restore(runs: Runs, path: Path, key: dict[str, Any]) -> set[tuple[int, int]]:
    """Load a state file written by :func:`save_state` into ``runs``; the (repetition, prompt) units it holds."""
    import json

    import torch

    if not path.exists():
        return set()
    state = json.loads(path.read_text())
    if state["key"] != key:
        raise SystemExit(f"{path} was written with other settings ({state['key']}); delete it or change --json")
    for name, kernel, p, rep, sec in state["seconds"]:
        runs.seconds.setdefault((name, kernel, p), {})[rep] = sec
    for name, kernel, p, new, forwards in state["tokens"]:
        runs.tokens[(name, kernel, p)] = (new, forwards)
    device = runs.prompts[0][1].device
    for kernel, p, ids in state["greedy"]:
        runs.greedy[(kernel, p)] = torch.tensor([ids], device=device)
    runs.mismatches.extend(state["mismatches"])
    done = {(rep, p) for rep, p in state["done"]}
    print(f"resuming from {path}: {len(done)} (repetition, prompt) units already measured", flush=True)
    return done


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


def summary_table(rows: list[dict[str, Any]]) -> list[tuple[str, dict, float]]:
    """(label, row, tokens/step) of every method's same-kernel speed-up, and of oneDNN greedy vs stock greedy."""
    per_step = {r["method"]: r["value"] for r in rows if r["metric"] == "tokens/step"}
    return [
        (r["method"] + (" vs stock" if r["metric"] == VS_STOCK else ""), r, per_step[r["method"]])
        for r in rows
        if r["metric"] == SAME or (r["metric"] == VS_STOCK and r["method"] == f"{BASELINE} [oneDNN]")
    ]


def title(data: dict[str, Any]) -> str:
    return f"{data['model']}, {data['threads']} thread(s), {data['device']}"


def print_summary(table: list[tuple[str, dict, float]]) -> None:
    print(f"\n{'method [kernel]':48} {'median x greedy [95% CI]':26} {'min-max':12} tok/step  median per kind (n)")
    for name, row, per_step in table:
        ci = f"{row['value']:.2f} [{row['ci95'][0]:.2f}, {row['ci95'][1]:.2f}]"
        spread = f"{row['min']:.2f}-{row['max']:.2f}"
        cells = "  ".join(f"{k} {v['median']:.2f} ({v['n']})" for k, v in row["per_kind"].items())
        print(f"{name:48} {ci:26} {spread:12} {per_step:7.2f}  {cells}")


def plot(path: Path, table: list[tuple[str, dict, float]], title: str) -> None:
    """Every prompt's speed-up (dots, coloured by kind) and the median with its 95% interval, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = dict.fromkeys(k for _, row, _ in table for _, k, _ in row["per_prompt"])
    colours = dict(zip(kinds, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")))
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.5), dpi=120)
    for y, (_, row, _) in enumerate(table):
        for i, (_, kind, ratio) in enumerate(row["per_prompt"]):
            ax.scatter(ratio, y + 0.3 * ((i % 7) - 3) / 3, s=10, color=colours[kind], alpha=0.8)
        low, high = row["ci95"]
        xerr = [[max(0.0, row["value"] - low)], [max(0.0, high - row["value"])]]
        ax.errorbar(row["value"], y, xerr=xerr, fmt="k|", ms=14, capsize=3)
    ax.axvline(1.0, color="grey", linestyle="--")
    ax.set_xscale("log")
    ax.set_yticks(range(len(table)), [t[0] for t in table], fontsize=7)
    ax.set_xlabel("speed-up vs plain greedy generate on the same kernel (per prompt; bar: median, 95% CI)")
    for k, c in colours.items():
        ax.scatter([], [], color=c, label=k, s=12)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def cost_curve(model: Any, bench: Benchmark, sizes: list[int], repeats: int, prefix_len: int = 300) -> None:
    """Milliseconds of one forward of ``n`` new tokens over a cached ``prefix_len``-token prefix: a causal call and a
    Token Recycling tree (4D mask), each with the stock kernel and with oneDNN (``min_rows=1``: one-row calls too).
    Variants and sizes are interleaved per repetition; medians reported."""
    import torch
    from transformers.cache_utils import DynamicCache

    from hf_tokens.generation.token_recycling import TokenRecyclingConfig
    from hf_tokens.generation.tree.tree import TokenTree, TreeShape
    from hf_tokens.generation.tree.verify import TreeVerifier

    g = torch.Generator().manual_seed(0)
    vocab = model.get_output_embeddings().weight.shape[0]
    cache = DynamicCache(config=model.config)
    prefix = torch.randint(100, vocab, (1, prefix_len), generator=g).to(model.device)
    with torch.no_grad():
        model(input_ids=prefix, cache=cache, use_cache=True, logits_to_keep=1)
    verifier = TreeVerifier(model, cache, max_nodes=max(sizes), width=prefix_len + max(sizes))
    verifier.prefix(prefix_len)
    trees = {}
    for n in sizes:
        shape = TreeShape.from_paths(TokenRecyclingConfig(tree_size=n).paths())[0] if n > 1 else TreeShape((-1,))
        trees[n] = TokenTree(shape, torch.randint(100, vocab, (n,), generator=g).tolist())

    def causal(n: int) -> None:
        model(input_ids=torch.tensor([trees[n].tokens], device=model.device), cache=cache, use_cache=True)

    variants = {"causal": causal, "tree mask": lambda n: verifier.forward(trees[n])}
    times: dict[tuple[str, int], list[float]] = {}
    with torch.no_grad():
        for rep in range(repeats + 1):  # the first round warms up oneDNN's kernels and is not counted
            for n in sizes:
                for kernel in ("stock", "oneDNN"):
                    for name, fn in variants.items():
                        with kernel_context(model, kernel):
                            start = time.perf_counter()
                            fn(n)
                            seconds = time.perf_counter() - start
                        if rep:
                            times.setdefault((f"{name}, {kernel} linears", n), []).append(seconds)
                        for layer in cache.layers:
                            layer.crop(-n)  # type: ignore[union-attr]
    one = statistics.median(times[("causal, stock linears", 1)]) * 1000
    for name, n in times:
        bench.add(
            f"forward, {n} tokens ({name})",
            "ms",
            statistics.median(times[(name, n)]) * 1000,
            baseline="forward, 1 token (causal, stock linears)",
            baseline_value=one,
        )
    bench.note(f"cost curve: {prefix_len}-token cached prefix, {repeats} interleaved repetitions, medians")


def calibrate(model: Any, tokenizer: Any, args: argparse.Namespace) -> None:
    """Per-level probability that the rank-r recycled candidate is the target's next token (held-out prompts)."""
    import torch

    from hf_tokens.generation.token_recycling.recycling import (
        AdjacencyMatrix,
        TokenRecyclingConfig,
        TokenRecyclingProposer,
    )
    from hf_tokens.generation.tree.decode import tree_decode
    from hf_tokens.generation.tree.prompts import speculative_prompts

    levels, k = 6, 8
    hits = [[0] * (k + 1) for _ in range(levels)]

    class Recording(TokenRecyclingProposer):
        def update(self, tree, logits, path, emitted):  # type: ignore[no-untyped-def]
            for j, node in enumerate(path):
                d = min(tree.shape.depth[node], levels - 1)
                row = self.matrix.table[tree.tokens[node]].tolist()
                rank = row.index(emitted[j]) if emitted[j] in row else k
                hits[d][rank] += 1
            super().update(tree, logits, path, emitted)

    config = TokenRecyclingConfig(tree_size=80)
    vocab = model.get_output_embeddings().weight.shape[0]

    def decode(model, input_ids, logits_processor=None, stopping_criteria=None, generation_config=None, **kw):  # type: ignore[no-untyped-def]
        kw.pop("synced_gpus", None)
        kw.pop("streamer", None)
        proposer = Recording(config, AdjacencyMatrix(vocab, k), model.device)
        return tree_decode(
            model,
            input_ids,
            proposer,
            logits_processor=logits_processor,
            stopping_criteria=stopping_criteria,
            generation_config=generation_config,
            **kw,
        )

    for _, ids in speculative_prompts(tokenizer, args.per_kind, seed=1):
        prompt = torch.tensor([ids], device=model.device)
        model.generate(prompt, max_new_tokens=args.max_new_tokens, do_sample=False, custom_generate=decode)
    table, coverage = [], []
    bench = Benchmark("speculative_calibration", args.model, device=args.device)
    for d in range(levels):
        total = sum(hits[d])
        table.append([round(max(hits[d][r] / total, 1e-3), 3) for r in range(k)] if total else [])
        coverage.append(1 - hits[d][k] / total if total else 0.0)
        print(f"level {d + 1}: n={total} p(rank)={table[-1]} miss={hits[d][k] / max(total, 1):.3f}")
        bench.add(f"token-recycling, level {d + 1}", "P(target token among the k candidates)", coverage[-1], n=total)
        bench.add(f"token-recycling, level {d + 1}", "P(rank 0 candidate is the target token)", table[-1][0])
    print("RANK_ACCEPTANCE =", tuple(tuple(r) for r in table if r))
    bound = 1 + infinite_tree_acceptance(coverage)
    bench.add("token-recycling, complete k-ary tree of unbounded depth", "accepted tokens/step (bound)", bound)
    bench.note(
        f"held-out prompts (seed 1), {args.max_new_tokens} new tokens, tree 80, cold matrix. The bound assumes "
        "levels are independent with the measured per-level coverage (last level repeating): no tree shape or size "
        "drafted from this matrix accepts more per step on these prompts"
    )
    bench.finish(args.json)


def infinite_tree_acceptance(coverage: list[float], depth: int = 200) -> float:
    """Expected accepted drafts per step of a tree holding all k candidates at every level, to ``depth`` levels:
    level ``d`` is reached with probability ``coverage[0] * ... * coverage[d-1]`` (the last entry repeats)."""
    total, reach = 0.0, 1.0
    for d in range(depth):
        reach *= coverage[min(d, len(coverage) - 1)]
        total += reach
    return total


def private_weights(model: Any) -> Any:
    """Copy the weights into private memory: file-backed pages can be evicted (and re-read) under load."""
    import torch

    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            tensor.data = tensor.data.clone()
    return model


def check_same_tokens(model: Any, tokenizer: Any, draft: Any, draft_tokenizer: Any) -> None:
    """A separate draft must share the target's token ids: same vocabulary (token -> id), same special tokens,
    same head size (:func:`hf_tokens.generation.dyspec.check_draft`) and the same ids for the benchmark prompts."""
    from hf_tokens.generation.dyspec import check_draft
    from hf_tokens.generation.tree.prompts import speculative_prompts

    check_draft(model, draft)
    if tokenizer.get_vocab() != draft_tokenizer.get_vocab():
        raise SystemExit("--draft-model: its tokenizer maps tokens to other ids than the target's")
    special = ("eos_token_id", "pad_token_id")
    if [getattr(tokenizer, n) for n in special] != [getattr(draft_tokenizer, n) for n in special]:
        raise SystemExit("--draft-model: its eos/pad token ids differ from the target's")
    if speculative_prompts(tokenizer, 2) != speculative_prompts(draft_tokenizer, 2):
        raise SystemExit("--draft-model: its tokenizer encodes the benchmark prompts differently")


def main(argv: list[str] | None = None) -> None:
    parser = add_common_args(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    )
    parser.add_argument("--model", default="smollm2-135m", help="hf_tokens.assets.load_model name")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="new tokens per prompt (128; quick 32)")
    parser.add_argument("--per-kind", type=int, default=None, help="prompts per kind (5; quick 1)")
    parser.add_argument("--slow-prompts", type=int, default=None, help="prompts for the slow methods (5; quick 1)")
    parser.add_argument("--tree-size", type=int, default=None, help="Token Recycling tree size (its default)")
    parser.add_argument("--draft-layers", type=int, default=8, help="layers of the truncated self-draft")
    parser.add_argument("--draft-model", default=None, help="a separate draft (load_model name) for assisted/DySpec")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="weights (both models)")
    parser.add_argument("--kernels", choices=sorted(KERNELS), default="both", help="linear kernels measured (CPU)")
    parser.add_argument("--lookup-tokens", type=int, default=10, help="prompt_lookup_num_tokens of HF prompt lookup")
    parser.add_argument("--sweep", default=None, help="extra Token Recycling tree sizes, e.g. 4,12,16")
    parser.add_argument("--hot-start", action="store_true", help="add Token Recycling with a held-out warm matrix")
    parser.add_argument("--calibrate", action="store_true", help="print Token Recycling's per-level rank acceptance")
    parser.add_argument("--cost-curve", default=None, help="only measure forward cost for these sizes, e.g. 1,2,4,8")
    parser.add_argument("--rescore", type=Path, default=None, help="only recompute a result JSON's statistics")
    args = parser.parse_args(argv)
    if args.rescore:
        rescore(args.rescore, args.plot)
        return
    setup_torch(args)
    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.generation.token_recycling import TokenRecyclingConfig

    args.max_new_tokens = args.max_new_tokens or (32 if args.quick else 128)
    args.per_kind = args.per_kind or (1 if args.quick else 5)
    args.slow_prompts = args.slow_prompts if args.slow_prompts is not None else (1 if args.quick else 5)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.tree_size = args.tree_size or TokenRecyclingConfig().tree_size
    if args.dtype != "float32" and args.kernels != "stock":
        raise SystemExit("--dtype bfloat16 needs --kernels stock: the oneDNN switch reroutes float32 linears only")

    model, tokenizer = load_model(args.model, dtype=getattr(torch, args.dtype))
    model = private_weights(model.to(args.device))
    draft = None
    if args.draft_model:
        draft, draft_tokenizer = load_model(args.draft_model, dtype=getattr(torch, args.dtype))
        draft = private_weights(draft.to(args.device))
        check_same_tokens(model, tokenizer, draft, draft_tokenizer)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    if args.calibrate:
        calibrate(model, tokenizer, args)
    elif args.cost_curve:
        bench = Benchmark("speculative_cost", args.model, device=args.device, quick=args.quick)
        bench.note(f"torch threads = {torch.get_num_threads()}; the 2-core machine was shared with other jobs")
        cost_curve(model, bench, [int(s) for s in args.cost_curve.split(",")], args.repeats * 3)
        bench.finish(args.json)
    else:
        speed_run(model, tokenizer, args, sync, draft)


if __name__ == "__main__":
    main()
