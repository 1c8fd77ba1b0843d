"""Masked diffusion LM decoding: plain iterative unmasking vs FreeCache vs Guided Diffusion (SmolLM2 guide) vs both,
with SmolLM2's own greedy decoding as the autoregressive reference.

    # the headline: SmolLM2-135M adapted to masked diffusion (hf_tokens/models/diffusion_lm/train.py --init smollm2)
    PYTHONPATH=. python benchmarks/diffusion_lm.py --model .cache/diffusion_lm_smollm2 --prompts 16 --prompt-len 192 \
        --threads 2 --json bench_results/diffusion_lm_smollm2.json

Model: a diffusion LM trained by ``python -m hf_tokens.models.diffusion_lm.train`` (``--model``). Prompts:
``--prompts`` windows of ``--prompt-len`` tokens from the held-out 10% of the training corpus (CPython stdlib source);
each arm writes ``--new-tokens`` tokens after each prompt. Per arm: denoising steps (denoiser forwards; AR forwards
for the AR reference), wall-clock seconds per prompt (guide included), SmolLM2 perplexity of the generated
continuation given the prompt, exact match of the first ``--match-tokens`` tokens with the held-out true
continuation, token accuracy against it, and agreement with the plain sampler's tokens (FreeCache's drift); medians
over prompts for steps, seconds and perplexity, means for the rest. The baseline is the plain sampler at one token per
step (``steps = new_tokens``), run in the same process on the same prompts; the "plain, 1/4 steps" arm shows what
cutting steps costs without a guide. Speed-ups are geometric means of per-prompt time ratios with 95% paired-bootstrap
intervals; token accuracy minus the plain sampler's carries its paired-bootstrap interval too (equal quality).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hf_tokens.benchmarking import Benchmark, add_common_args, paired_bootstrap, paired_log_ratio, setup_torch


def arms(n: int, block: int) -> dict[str, dict[str, Any]]:
    return {
        "plain": {"steps": n, "block_length": block},
        "plain-quarter-steps": {"steps": max(1, n // 4), "block_length": block},
        "freecache": {"steps": n, "block_length": block, "freecache": True},
        "guided": {"block_length": block, "guide": True},
        "guided+freecache": {"block_length": block, "guide": True, "freecache": True},
        "smollm2-greedy (AR)": {"ar": True},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    p.add_argument("--model", default=".cache/diffusion_lm", help="folder of the trained diffusion LM")
    p.add_argument("--prompts", type=int, default=24)
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=32)
    p.add_argument("--block-length", type=int, default=8)
    p.add_argument("--match-tokens", type=int, default=4)
    args = p.parse_args(argv)
    if args.quick:
        args.prompts = min(args.prompts, 10)
    setup_torch(args)
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    import hf_tokens.models.diffusion_lm.modeling  # noqa: F401  (registers the Auto classes)
    from hf_tokens.analysis.token_stats import token_stats
    from hf_tokens.assets import load_model
    from hf_tokens.models.diffusion_lm.sampling import diffusion_generate
    from hf_tokens.models.diffusion_lm.train import token_stream

    folder = Path(args.model)
    if not (folder / "config.json").is_file():
        raise SystemExit(f"no trained model in {folder}: run python -m hf_tokens.models.diffusion_lm.train first")
    dlm = AutoModelForMaskedLM.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    guide, _ = load_model("smollm2-135m")
    _, heldout = token_stream(tok, 3_000_000)
    span = args.prompt_len + args.new_tokens
    gen = torch.Generator().manual_seed(0)
    starts = torch.randint(0, heldout.numel() - span, (args.prompts,), generator=gen).tolist()
    windows = [heldout[s : s + span] for s in starts]
    bench = Benchmark(
        "diffusion_lm", model=f"{folder.name} (guide SmolLM2-135M)", device=args.device, quick=args.quick
    )
    results: dict[str, dict[str, list[float]]] = {}
    outputs: dict[str, list[torch.Tensor]] = {}
    with torch.no_grad():
        diffusion_generate(dlm, windows[0][None, : args.prompt_len], max_new_tokens=4, guide=guide)  # warm-up
        for name, kw in arms(args.new_tokens, args.block_length).items():
            kw = dict(kw, guide=guide if kw.get("guide") else None)
            res: dict[str, list[float]] = {k: [] for k in ("steps", "seconds", "ppl", "exact", "accuracy", "agree")}
            outputs[name] = []
            for i, w in enumerate(windows):
                ids = w[None, : args.prompt_len]
                t0 = time.perf_counter()
                if kw.get("ar"):  # SmolLM2's own greedy decoding (KV cache): the autoregressive reference
                    out = guide.generate(ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                         do_sample=False, pad_token_id=tok.eos_token_id)  # fmt: skip
                    stats = {"denoiser_forwards": args.new_tokens}
                else:
                    out, stats = diffusion_generate(dlm, ids, max_new_tokens=args.new_tokens, **kw)
                res["seconds"].append(time.perf_counter() - t0)
                res["steps"].append(stats["denoiser_forwards"])
                gen_ids = out[0, args.prompt_len :]
                outputs[name].append(gen_ids)
                ts = token_stats(guide, input_ids=out, continuation_start=args.prompt_len, entropy=False)
                res["ppl"].append(float(torch.exp(ts.nll()[0] / ts.num_scored[0])))
                truth = w[args.prompt_len :]
                m = args.match_tokens
                res["exact"].append(float(torch.equal(gen_ids[:m], truth[:m])))
                res["accuracy"].append(float((gen_ids == truth).float().mean()))
                res["agree"].append(float((gen_ids == outputs["plain"][i]).float().mean()))
            results[name] = res
            print(
                f"{name}: {statistics.median(res['seconds']):.3f} s, {statistics.median(res['steps'])} steps",
                flush=True,
            )
    ar = outputs["smollm2-greedy (AR)"]
    for name, res in results.items():  # the guided arms must reproduce the AR reference (lossless guidance)
        res["agree_ar"] = [float((a == b).float().mean()) for a, b in zip(outputs[name], ar)]
    base = results["plain"]
    med = {name: {k: statistics.median(v) for k, v in r.items()} for name, r in results.items()}
    mean = {name: {k: statistics.fmean(v) for k, v in r.items()} for name, r in results.items()}
    for name in results:
        kwargs = {"baseline": "plain"} if name != "plain" else {}
        for metric, key, agg in (
            ("denoising_steps", "steps", med),
            ("seconds_per_prompt", "seconds", med),
            ("smollm2_ppl", "ppl", med),
            (f"exact_match_first_{args.match_tokens}", "exact", mean),
            ("token_accuracy", "accuracy", mean),
            ("agreement_with_plain", "agree", mean),
            ("agreement_with_ar_greedy", "agree_ar", mean),
        ):
            bv = agg["plain"][key] if name != "plain" else None
            bench.add(name, metric, agg[name][key], baseline_value=bv, **kwargs)
        if name == "plain":
            bench.add(name, "speedup_vs_plain", 1.0)
            continue
        logs = [[math.log(t) for t in results[arm]["seconds"]] for arm in ("plain", name)]
        speed, low, high = paired_log_ratio(*logs)
        bench.add(name, "speedup_vs_plain", speed, baseline="plain", ci95=[low, high], n=len(windows),
                  per_prompt=[round(a / b, 3) for a, b in zip(base["seconds"], results[name]["seconds"])])  # fmt: skip
        acc, acc_base = results[name]["accuracy"], base["accuracy"]
        low, high = paired_bootstrap(acc, acc_base)
        diff = statistics.fmean(acc) - statistics.fmean(acc_base)
        bench.add(name, "token_accuracy_minus_plain", diff, baseline="plain", ci95=[low, high], n=len(windows))
    bench.note(
        f"{len(windows)} held-out prompts of {args.prompt_len} tokens, {args.new_tokens} new tokens, block "
        f"{args.block_length}; medians over prompts (exact match, accuracy and agreement: means); speed-ups: "
        f"geometric means of per-prompt ratios; {args.threads} thread(s); guided arms include the SmolLM2 guide's "
        "time and equal SmolLM2's greedy continuation (the AR reference arm)"
    )
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
