"""The side measurements of ``benchmarks/speculative.py``: ``--cost-curve`` (forward cost against the number of new
tokens, both kernels, causal and tree mask) and ``--calibrate`` (Token Recycling's per-level rank acceptance)."""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from benchmarks._speculative_runs import kernel_context
from hf_tokens.benchmarking import Benchmark


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
