"""Tree speculative decoding inside ``model.generate``: Token Recycling, ADED and DySpec against plain greedy
``generate``, transformers' prompt-lookup decoding and assisted generation with a truncated-layer self-draft.

All methods run in the same process on the same prompts (chat, code continuation, summarise, repeat/extract),
interleaved per repetition so that a busy machine slows every method alike; the table reports the median over
repetitions of tokens/s over the whole prompt set, its ratio to plain greedy ``generate``, and the mean number of
tokens emitted per target forward ("accepted per step": accepted drafts + the target's own token; 1.0 for plain
greedy). Every output is compared with plain greedy output (identical or a near-tie divergence).

    OMP_NUM_THREADS=1 python benchmarks/speculative.py --json bench_results/speculative.json \
        --sweep 4,8,12,16,24,40 --plot bench_results/speculative.png
    python benchmarks/speculative.py --quick            # < 5 min on 2 cores
    python benchmarks/speculative.py --device cuda      # same code on a GPU
    python benchmarks/speculative.py --calibrate        # per-level rank acceptance of Token Recycling (template)
    OMP_NUM_THREADS=1 python benchmarks/speculative.py --cost-curve 1,2,4,8,16,32,64,80 \
        --json bench_results/speculative_cost.json   # verification forward cost vs tree size

Every Token Recycling row also reports its step cost in units of one greedy token (seconds per verification step /
greedy seconds per token) and the accepted tokens/step a 1.6x speed-up would need at that cost (1.6 x step cost).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_tokens.benchmarking import Benchmark, add_common_args, plot_lines, setup_torch

BASELINE = "greedy generate"
CONTEXT = "_onednn_context"  # a method entry with this key runs model.generate inside OneDNNLinearMode


def warm_matrix(model: Any, tokenizer: Any, args: argparse.Namespace, config: Any) -> Any:
    """The paper's hot start: a matrix inherited from earlier, *different* queries (held-out prompts, seed 1)."""
    import torch

    from hf_tokens.generation import token_recycling
    from hf_tokens.generation.tree.prompts import speculative_prompts

    vocab = model.get_output_embeddings().weight.shape[0]
    state = token_recycling.AdjacencyMatrix(vocab, config.top_k)
    for _, ids in speculative_prompts(tokenizer, args.per_kind, seed=1):
        prompt = torch.tensor([ids], device=model.device)
        model.generate(
            prompt,
            max_new_tokens=args.max_new_tokens,
            do_sample=False,
            custom_generate=token_recycling.generate,
            token_recycling_config=config,
            token_recycling_state=state,
        )
    return state


def build_methods(model: Any, tokenizer: Any, args: argparse.Namespace) -> dict[str, Any]:
    from hf_tokens.generation import aded, dyspec, token_recycling

    draft = dyspec.truncated_draft(model, args.draft_layers)
    tr_config = token_recycling.TokenRecyclingConfig(tree_size=args.tree_size)
    warm = warm_matrix(model, tokenizer, args, tr_config)
    return {
        BASELINE: {},
        "prompt lookup (HF)": {"prompt_lookup_num_tokens": args.lookup_tokens},
        # Not a baseline but an attribution check: HF prompt lookup's chain verification with the same oneDNN linears.
        "prompt lookup (HF), oneDNN linears": {"prompt_lookup_num_tokens": args.lookup_tokens, CONTEXT: True},
        f"assisted, {args.draft_layers}-layer self-draft (HF)": {"assistant_model": draft},
        "token-recycling": {"custom_generate": token_recycling.generate, "token_recycling_config": tr_config},
        "token-recycling, stock linears": {
            "custom_generate": token_recycling.generate,
            "token_recycling_config": tr_config,
            "onednn_linear": False,
        },
        "token-recycling, hot start": lambda: {
            "custom_generate": token_recycling.generate,
            "token_recycling_config": tr_config,
            "token_recycling_state": warm.copy(),
        },
        "aded": {"custom_generate": aded.generate},
        f"dyspec, {args.draft_layers}-layer self-draft": {"custom_generate": dyspec.generate, "draft_model": draft},
    }


class ForwardCounter:
    """Counts the target model's forward calls (verification steps + prefill)."""

    def __init__(self, model: Any) -> None:
        self.calls = 0
        self.handle = model.register_forward_pre_hook(self._hook)

    def _hook(self, *args: Any) -> None:
        self.calls += 1


def near_tie_or_equal(model: Any, prompt_len: int, ours: Any, plain: Any) -> str:
    """'identical', 'near-tie' (first divergence has a top-2 gap < 1e-4 on the reference path) or 'DIFFERENT'."""
    import torch

    if torch.equal(ours, plain):
        return "identical"
    n = min(ours.shape[1], plain.shape[1])
    diff = (ours[0, :n] != plain[0, :n]).nonzero()
    if not len(diff):
        return "DIFFERENT"
    first = int(diff[0])
    with torch.no_grad():
        top = model(input_ids=plain[:, :first]).logits[0, -1].float().topk(2).values
    return "near-tie" if float(top[0] - top[1]) < 1e-4 and first >= prompt_len else "DIFFERENT"


def run_once(model: Any, ids: Any, kwargs: Any, max_new: int, sync: Any) -> tuple[Any, float, int]:
    from hf_tokens.generation.tree.linear import OneDNNLinearMode

    kwargs = dict(kwargs() if callable(kwargs) else kwargs)  # a callable gives fresh state (a warm matrix's copy)
    context = OneDNNLinearMode() if kwargs.pop(CONTEXT, False) else contextlib.nullcontext()
    counter = ForwardCounter(model)
    try:
        sync()
        start = time.perf_counter()
        with context:
            out = model.generate(ids, max_new_tokens=max_new, do_sample=False, **kwargs)
        sync()
        seconds = time.perf_counter() - start
    finally:
        counter.handle.remove()
    return out, seconds, counter.calls


def cost_curve(model: Any, bench: Benchmark, sizes: list[int], repeats: int, prefix_len: int = 300) -> None:
    """Milliseconds of one forward of ``n`` new tokens over a cached ``prefix_len``-token prefix, for a plain causal
    call, a Token Recycling tree (4D mask) with PyTorch's stock linears, and the same tree with oneDNN linears (what
    the verifier runs). Variants and sizes are interleaved per repetition; medians reported."""
    import torch
    from transformers.cache_utils import DynamicCache

    from hf_tokens.generation.token_recycling import TokenRecyclingConfig
    from hf_tokens.generation.tree.linear import OneDNNLinearMode
    from hf_tokens.generation.tree.tree import TokenTree, TreeShape
    from hf_tokens.generation.tree.verify import TreeVerifier

    g = torch.Generator().manual_seed(0)
    vocab = model.get_output_embeddings().weight.shape[0]
    cache = DynamicCache(config=model.config)
    prefix = torch.randint(100, vocab, (1, prefix_len), generator=g).to(model.device)
    verifiers = {}
    with torch.no_grad():
        model(input_ids=prefix, cache=cache, use_cache=True, logits_to_keep=1)
        for onednn in (False, True):
            verifiers[onednn] = TreeVerifier(
                model, cache, max_nodes=max(sizes), width=prefix_len + max(sizes), onednn_linear=onednn
            )
            verifiers[onednn].prefix(prefix_len)
    trees = {}
    for n in sizes:
        shape = TreeShape.from_paths(TokenRecyclingConfig(tree_size=n).paths())[0] if n > 1 else TreeShape((-1,))
        trees[n] = TokenTree(shape, torch.randint(100, vocab, (n,), generator=g).tolist())

    def causal(n: int) -> None:
        model(input_ids=torch.tensor([trees[n].tokens], device=model.device), cache=cache, use_cache=True)

    def causal_onednn(n: int) -> None:
        with OneDNNLinearMode(min_rows=1):
            causal(n)

    variants = {
        "causal, stock linears": causal,
        "causal, oneDNN linears incl. 1 row": causal_onednn,
        "tree mask, stock linears": lambda n: verifiers[False].forward(trees[n]),
        "tree mask, oneDNN linears": lambda n: verifiers[True].forward(trees[n]),
    }
    times: dict[tuple[str, int], list[float]] = {}
    with torch.no_grad():
        for rep in range(repeats + 1):  # the first round warms up oneDNN's kernels and is not counted
            for n in sizes:
                for name, fn in variants.items():
                    start = time.perf_counter()
                    fn(n)
                    if rep:
                        times.setdefault((name, n), []).append(time.perf_counter() - start)
                    for layer in cache.layers:
                        layer.crop(-n)
    one = statistics.median(times[("causal, stock linears", 1)]) * 1000
    for name in variants:
        for n in sizes:
            ms = statistics.median(times[(name, n)]) * 1000
            bench.add(
                f"forward, {n} tokens ({name})",
                "ms",
                ms,
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


def main(argv: list[str] | None = None) -> None:
    parser = add_common_args(
        argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    )
    parser.add_argument("--model", default="smollm2-135m", help="hf_tokens.assets.load_model name")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="new tokens per prompt (256; quick 64)")
    parser.add_argument("--per-kind", type=int, default=None, help="prompts per kind (2; quick 1)")
    parser.add_argument("--tree-size", type=int, default=None, help="Token Recycling tree size (its default)")
    parser.add_argument("--draft-layers", type=int, default=8, help="layers of the truncated self-draft")
    parser.add_argument("--lookup-tokens", type=int, default=10, help="prompt_lookup_num_tokens of HF prompt lookup")
    parser.add_argument("--sweep", default=None, help="Token Recycling tree sizes to sweep, e.g. 4,8,16,24,40,80")
    parser.add_argument("--calibrate", action="store_true", help="print Token Recycling's per-level rank acceptance")
    parser.add_argument("--cost-curve", default=None, help="only measure forward cost for these sizes, e.g. 1,2,4,8")
    args = parser.parse_args(argv)
    setup_torch(args)
    import torch

    from hf_tokens.assets import load_model
    from hf_tokens.generation.token_recycling import TokenRecyclingConfig
    from hf_tokens.generation.token_recycling import generate as tr_generate
    from hf_tokens.generation.tree.prompts import speculative_prompts

    if args.max_new_tokens is None:
        args.max_new_tokens = 64 if args.quick else 256
    if args.per_kind is None:
        args.per_kind = 1 if args.quick else 2
    repeats = args.repeats or (1 if args.quick else 3)
    if args.tree_size is None:
        args.tree_size = TokenRecyclingConfig().tree_size

    model, tokenizer = load_model(args.model)
    model = model.to(args.device)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    if args.calibrate:
        calibrate(model, tokenizer, args)
        return
    if args.cost_curve:
        bench = Benchmark("speculative_cost", args.model, device=args.device, quick=args.quick)
        bench.note(f"torch threads = {torch.get_num_threads()}; the 2-core machine was shared with other jobs")
        cost_curve(model, bench, [int(s) for s in args.cost_curve.split(",")], repeats * 3)
        bench.finish(args.json)
        return

    prompts = [
        (kind, torch.tensor([ids], device=model.device)) for kind, ids in speculative_prompts(tokenizer, args.per_kind)
    ]
    methods = build_methods(model, tokenizer, args)
    if args.sweep:
        for size in (int(s) for s in args.sweep.split(",")):
            methods[f"token-recycling, tree {size}"] = {
                "custom_generate": tr_generate,
                "token_recycling_config": TokenRecyclingConfig(tree_size=size),
            }
    bench = Benchmark("speculative", args.model, device=args.device, quick=args.quick)
    bench.note(
        f"greedy, {args.max_new_tokens} new tokens, {len(prompts)} prompts, fp32, batch 1, {repeats} repetitions"
    )
    bench.note(f"torch threads = {torch.get_num_threads()} (OMP_NUM_THREADS); the 2-core machine was shared")

    # warm-up (allocator, lazy inits): one short run of every method
    for kwargs in methods.values():
        run_once(model, prompts[0][1], kwargs, 8, sync)

    bench.note("hot start: the adjacency matrix left by held-out prompts (not the measured ones), copied per call")
    seconds = {m: [0.0] * repeats for m in methods}
    per_kind: dict[tuple[str, str], list[float]] = {}
    new_tokens = {m: 0 for m in methods}
    kind_tokens: dict[tuple[str, str], int] = {}
    steps = {m: 0 for m in methods}
    verdicts: dict[str, list[str]] = {m: [] for m in methods}
    for rep in range(repeats):
        for p_index, (kind, ids) in enumerate(prompts):
            reference = None
            for name, kwargs in methods.items():
                out, sec, calls = run_once(model, ids, kwargs, args.max_new_tokens, sync)
                seconds[name][rep] += sec
                per_kind.setdefault((name, kind), [0.0] * repeats)[rep] += sec
                if rep == 0:
                    generated = out.shape[1] - ids.shape[1]
                    new_tokens[name] += generated
                    kind_tokens[(name, kind)] = kind_tokens.get((name, kind), 0) + generated
                    steps[name] += max(calls - 1, 1)
                    if name == BASELINE:
                        reference = out
                    verdicts[name].append(near_tie_or_equal(model, ids.shape[1], out, reference))
            print(f"rep {rep + 1}/{repeats} prompt {p_index + 1}/{len(prompts)} ({kind}) done", flush=True)

    tokens_per_s = {m: new_tokens[m] / statistics.median(seconds[m]) for m in methods}
    base = tokens_per_s[BASELINE]
    for name in methods:
        accepted = (new_tokens[name] - len(prompts)) / steps[name]
        spread = (max(seconds[name]) - min(seconds[name])) / 2 / statistics.median(seconds[name]) * tokens_per_s[name]
        v = verdicts[name]
        outputs = f"{v.count('identical')} identical, {v.count('near-tie')} near-tie, {v.count('DIFFERENT')} different"
        bench.add(
            name,
            "tokens/s",
            tokens_per_s[name],
            baseline=BASELINE,
            baseline_value=base,
            spread=spread,
            accepted_per_step=round(accepted, 3),
            outputs=outputs,
        )
        bench.add(name, "accepted tokens/step", accepted)
        if name.startswith("token-recycling"):
            step_cost = (statistics.median(seconds[name]) / steps[name]) * tokens_per_s[BASELINE]
            bench.add(name, "step cost (greedy tokens)", step_cost, accepted_needed_for_1_6x=round(1.6 * step_cost, 3))
    for name in methods:
        for kind in sorted({k for k, _ in prompts}):
            value = kind_tokens[(name, kind)] / statistics.median(per_kind[(name, kind)])
            base_kind = kind_tokens[(BASELINE, kind)] / statistics.median(per_kind[(BASELINE, kind)])
            bench.add(name, f"tokens/s ({kind})", value, baseline=BASELINE, baseline_value=base_kind)
    lookup = "prompt lookup (HF)"
    bench.add(
        "token-recycling",
        "tokens/s",
        tokens_per_s["token-recycling"],
        baseline=lookup,
        baseline_value=tokens_per_s[lookup],
    )
    if args.sweep and args.plot:
        speed = {int(s): tokens_per_s[f"token-recycling, tree {s}"] / base for s in args.sweep.split(",")}
        speed.setdefault(args.tree_size, tokens_per_s["token-recycling"] / base)
        sizes = sorted(speed)
        plot_lines(
            args.plot,
            {"token-recycling": (sizes, [speed[s] for s in sizes])},
            xlabel="tree size (nodes incl. root)",
            ylabel="speed-up vs greedy generate",
            title=f"Token Recycling on {args.model}, {torch.get_num_threads()} thread(s), {args.device}",
            baseline=1.0,
        )
    bench.finish(args.json)


if __name__ == "__main__":
    main()
