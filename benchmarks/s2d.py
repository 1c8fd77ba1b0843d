"""S2D benchmark: one set of sorted nested drafts serving two targets (sorted speculative decoding, arXiv:2407.01955).

Set-up: a copy of SmolLM2-135M is sorted-fine-tuned (SoFT, :mod:`hf_tokens.generation.s2d.soft`) with sub-network
losses at depths 4, 8, 12 and all 30 layers, within ``--train-steps`` steps on offline text (the CPU budget). Its
first 4 / 8 / 12 layers (+ shared norm and head) are the drafts. Two targets are served from those same drafts:

* ``SmolLM2-135M``: the original model (the drafts come from a *different*, fine-tuned model);
* ``SmolLM2-135M-SoFT``: the sorted-fine-tuned model itself (its drafts are its own first layers).

Per target, the confidence thresholds are chosen on held-out calibration prompts (the paper tunes them per target)
from a small grid, then every arm runs on the same prompts, budget, seed and threads, all on the same oneDNN
linears: plain greedy (baseline), S2D (adaptive depth), S2D with one fixed draft (the 12-layer sub-network, fixed
draft length), DySpec with the target's own 8-layer self-draft, and HF assisted decoding with the smallest nested
draft (4 layers) as ``assistant_model``. Reported: tokens/s (median over prompts), the median of per-prompt speed-up
ratios vs greedy, tokens per verification step, and the share of draft tokens each sub-network proposed. Every
speculative output is compared with plain greedy (lossless).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from typing import Any

import torch

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch

# from "escalate unless sure" to "let the 4-layer draft propose whenever it is fairly confident"
GRID = ([0.95, 0.9, 0.8], [0.9, 0.7, 0.5], [0.7, 0.5, 0.3], [0.5, 0.4, 0.3], [0.3, 0.3, 0.3])
DRAFT_DEPTHS = [4, 8, 12]


def timed(model: Any, ids: torch.Tensor, max_new: int, extra: list[Any], **kwargs: Any) -> tuple[torch.Tensor, float]:
    from hf_tokens.generation import onednn_linears

    with onednn_linears(model, *extra, min_rows=1):
        start = time.perf_counter()
        out = model.generate(ids, max_new_tokens=max_new, do_sample=False, **kwargs)
        return out, time.perf_counter() - start


def arms(target: Any, draft: Any, thresholds: list[float]) -> dict[str, tuple[list[Any], dict[str, Any]]]:
    """name -> (models to put on oneDNN besides the target, generate kwargs); every speculative arm gets a
    ``decoding_stats`` dict where it has one."""
    from hf_tokens.generation import dyspec, s2d

    self_draft = dyspec.truncated_draft(target, 8)
    smallest = dyspec.truncated_draft(draft, DRAFT_DEPTHS[0])
    s2d_cfg = {"depths": DRAFT_DEPTHS, "thresholds": thresholds}
    fixed = {"depths": [DRAFT_DEPTHS[-1]], "thresholds": [0.0], "max_draft_tokens": 4}
    with_draft = {"custom_generate": s2d.generate, "draft_model": draft}
    return {
        "greedy": ([], {}),
        "S2D (adaptive depth)": ([draft], {**with_draft, "s2d_config": s2d_cfg}),
        "S2D fixed 12-layer draft": ([draft], {**with_draft, "s2d_config": fixed}),
        "DySpec 8-layer self-draft": ([], {"custom_generate": dyspec.generate, "draft_model": self_draft}),
        "HF assisted (4-layer draft)": ([smallest], {"assistant_model": smallest}),
    }


def speed(target: Any, ids: torch.Tensor, args: argparse.Namespace, extra: list[Any], kwargs: dict) -> tuple:
    stats: dict[str, Any] = {}
    if "custom_generate" in kwargs:
        kwargs = {**kwargs, "decoding_stats": stats}
    times, out = [], None
    for _ in range(args.repeats):
        out, secs = timed(target, ids, args.max_new_tokens, extra, **kwargs)
        times.append(secs)
    assert out is not None
    return out, (out.shape[1] - ids.shape[1]) / statistics.median(times), stats


def calibrate(target: Any, draft: Any, prompts: list, args: argparse.Namespace) -> list[float]:
    """The thresholds of :data:`GRID` with the highest median tokens/s on the calibration prompts."""
    from hf_tokens.generation import s2d

    best, best_speed = list(GRID[0]), -1.0
    for thresholds in GRID:
        kwargs = {"custom_generate": s2d.generate, "draft_model": draft}
        kwargs["s2d_config"] = {"depths": DRAFT_DEPTHS, "thresholds": thresholds}
        tps = statistics.median(speed(target, ids, args, [draft], kwargs)[1] for _, ids in prompts)
        if tps > best_speed:
            best, best_speed = list(thresholds), tps
    return best


def main(argv: list[str] | None = None) -> None:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--train-steps", type=int, default=None, help="SoFT optimizer steps (default 40, --quick 12)")
    parser.add_argument("--per-kind", type=int, default=2, help="prompts per kind (5 kinds) in the timed set")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--save", default=None, help="save the sorted model with save_for_hub into this folder")
    args = parser.parse_args(argv)
    setup_torch(args)
    if args.quick:
        args.per_kind, args.max_new_tokens = 1, 24
    args.train_steps = args.train_steps or (12 if args.quick else 40)
    args.repeats = args.repeats or 1

    from hf_tokens.assets import load_model
    from hf_tokens.generation.s2d.soft import SortedFineTuningConfig, sorted_fine_tune
    from hf_tokens.generation.tree.prompts import speculative_prompts

    base, tok = load_model("smollm2-135m")
    base.to(args.device)
    bench = Benchmark("s2d", "SmolLM2-135M (+ its SoFT copy)", device=args.device, quick=args.quick)
    soft = copy.deepcopy(base)
    torch.manual_seed(0)
    soft_cfg = SortedFineTuningConfig(depths=[*DRAFT_DEPTHS, 30], max_steps=args.train_steps, learning_rate=1e-4)
    report = sorted_fine_tune(soft, tok, soft_cfg)
    soft.eval()
    first, last = report["loss_history"][0], report["loss_history"][-1]
    for depth, a, b in zip(report["depths"], first, last):
        bench.add(f"SoFT depth {depth}", "train loss, last step", b, baseline="first step", baseline_value=a)
    bench.note(
        f"SoFT: {report['steps']} steps x {soft_cfg.batch_size} windows x {soft_cfg.seq_len} tokens of "
        f"{soft_cfg.corpus}, lr {soft_cfg.learning_rate}, {report['seconds']:.0f} s"
    )
    if args.save:
        from hf_tokens.hub import save_for_hub

        save_for_hub(soft, args.save, method_id="s2d", kind="model", tokenizer=tok, config=soft_cfg, overwrite=True)

    timed_prompts = speculative_prompts(tok, args.per_kind, context_chars=600, seed=0)
    calib = speculative_prompts(tok, 1, context_chars=600, seed=1)[:2]
    to_ids = lambda p: torch.tensor([p], dtype=torch.long, device=args.device)  # noqa: E731
    timed_prompts = [(k, to_ids(p)) for k, p in timed_prompts]
    calib = [(k, to_ids(p)) for k, p in calib]
    for target_name, target in (("SmolLM2-135M", base), ("SmolLM2-135M-SoFT", soft)):
        print(f"timing {target_name} ...", flush=True)
        thresholds = calibrate(target, soft, calib, args)
        bench.note(f"{target_name}: thresholds {thresholds} for depths {DRAFT_DEPTHS} (picked on 2 held-out prompts)")
        per: dict[str, list[float]] = {}
        steps: dict[str, list[float]] = {}
        shares: list[list[float]] = []
        identical: dict[str, int] = {}
        for _, ids in timed_prompts:
            plain = None
            for name, (extra, kwargs) in arms(target, soft, thresholds).items():
                out, tps, stats = speed(target, ids, args, extra, kwargs)
                plain = out if name == "greedy" else plain
                per.setdefault(name, []).append(tps)
                identical[name] = identical.get(name, 0) + int(torch.equal(out, plain))
                if stats.get("steps"):
                    steps.setdefault(name, []).append(stats["mean_accepted"])  # new tokens per target forward
                if name.startswith("S2D (") and "exit_share" in stats:
                    shares.append(stats["exit_share"])
        greedy = per["greedy"]
        for name, values in per.items():
            ratios = [v / g for v, g in zip(values, greedy)]
            bench.add(
                f"{name} | {target_name}", "tokens/s", statistics.median(values), baseline="plain greedy",
                baseline_value=statistics.median(greedy), n=len(values),
                median_speedup=statistics.median(ratios), identical_to_greedy=f"{identical[name]}/{len(values)}",
                speedups=[round(r, 4) for r in ratios],
            )  # fmt: skip
            if name in steps:
                bench.add(f"{name} | {target_name}", "tokens/step", statistics.median(steps[name]), n=len(values))
        if shares:
            mean_share = [statistics.mean(s[i] for s in shares) for i in range(len(DRAFT_DEPTHS))]
            for depth, share in zip(DRAFT_DEPTHS, mean_share):
                bench.add(f"S2D (adaptive depth) | {target_name}", f"share of drafts from depth {depth}", share)
    bench.note(f"{len(timed_prompts)} prompts, {args.max_new_tokens} new tokens, greedy, every arm on oneDNN linears")
    bench.finish(args.json)


if __name__ == "__main__":
    main()
