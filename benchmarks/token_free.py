"""Models beyond fixed subword tokens (issue 22): one controlled experiment per part, each writing its own JSON.

    python benchmarks/token_free.py --part markov --json bench_results/token_free_markov.json
    python benchmarks/token_free.py --part eiw --json bench_results/token_free_eiw.json
    python benchmarks/token_free.py --part models --json bench_results/token_free_models.json
    python benchmarks/token_free.py --part models --summarise SEED0.json SEED1.json ... --json SEEDS.json

Parts:

- ``markov`` (tokenization-theory, arXiv:2404.08335): k-th order switch Markov sources, k = 1..4; a tiny transformer
  on the characters vs the same transformer on BPE tokens learned from the source, as a one-layer GPT-2 (the papers'
  absolute-position architecture) and as a one-layer RoPE Llama, over ``--seeds``; held-out cross-entropy per
  character, its excess over the entropy rate, the unigram entropy (where a collapsed model sits) and the training
  step at which each arm first closes half the gap between them.
- ``eiw`` (equal-info-windows, arXiv:2404.03626): M2 over equal-info windows vs plain arithmetic coding vs bytes at
  equal compute (``benchmarks/_token_free_eiw.py``).
- ``models``: learn-your-tokens, hierarchical-ar and lexinvariant against subword (SmolLM2 tokenizer) and byte
  baselines, with MEGABYTE (``megabyte-pytorch``) as the peer of the hierarchical arms
  (``benchmarks/_token_free_models.py``; ``--arms`` picks the arms).

Toy scale on purpose: every arm is a model of tens of thousands of parameters trained for a few hundred steps at one
CPU thread, so the whole of a part fits in well under 25 minutes. ``--scale`` multiplies the training steps (and
``--quick`` divides them) so a GPU run can scale the budget; the numbers are the direction of the papers' effects at
this scale, not their magnitudes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch, summarise_seeds


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def part_markov(bench: Benchmark, args: argparse.Namespace) -> None:
    from hf_tokens.analysis.tokenization_theory import TokenizationTheoryConfig, run_experiment

    steps = max(10, round((60 if args.quick else 300) * args.scale))
    reports = {}
    for arch in args.architectures:
        for seed in args.seeds:
            config = TokenizationTheoryConfig(
                orders=[1, 2, 3, 4],
                architecture=arch,
                steps=steps,
                train_symbols=200_000 if not args.quick else 40_000,
                seed=seed,
            )
            _log(f"{arch}, seed {seed}")
            reports[arch, seed] = run_experiment(config, progress=_log)
    bench.note(
        f"Markov switch sources p={config.p} q={config.q}; transformers of {config.layers} layer(s), {config.heads} "
        f"head(s), width {config.hidden} (gpt2: learned absolute positions, the papers' architecture; llama: "
        f"RoPE), lr {config.lr}; "
        f"{config.steps} steps x {config.batch_size} windows of {config.context_symbols} characters per arm (the BPE "
        f"arm's windows hold the same characters in fewer tokens); BPE dictionary {config.bpe_vocab_size}; seeds "
        f"{list(args.seeds)} (each seed draws its own samples and initialisation; value = mean over seeds)"
    )
    for arch in args.architectures:
        for k in config.orders:
            for tokenizer in ("character", "bpe"):
                rows = [reports[arch, seed].row(k, tokenizer) for seed in args.seeds]
                values = [r["cross_entropy_bits"] for r in rows]
                escapes = [r["escape_step"] for r in rows]
                bench.add(
                    f"{arch}/{tokenizer}@k={k}",
                    "bits_per_char",
                    sum(values) / len(values),
                    baseline="entropy rate",
                    baseline_value=rows[0]["entropy_rate_bits"],
                    order=k,
                    unigram_bits=rows[0]["unigram_bits"],
                    chars_per_token=sum(r["chars_per_token"] for r in rows) / len(rows),
                    gap_closed=sum(r["gap_closed"] for r in rows) / len(rows),
                    per_seed=values,
                    min_value=min(values),
                    max_value=max(values),
                    n_seeds=len(rows),
                    escape_steps=escapes,
                    escaped=sum(e is not None for e in escapes),
                    unigram_plateau_share=sum(r["unigram_plateau_share"] for r in rows) / len(rows),
                    loss_curves_bits=[r["loss_curve_bits"] for r in rows],
                )


PARTS = {"markov": part_markov}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", required=True, choices=[*sorted(PARTS), "eiw", "models"])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every arm's training steps (GPU: > 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="markov part: seeds of every arm")
    parser.add_argument(
        "--architectures", nargs="+", default=["gpt2", "llama"], choices=["gpt2", "llama"], help="markov part"
    )
    parser.add_argument(
        "--arms",
        nargs="+",
        default=["learn-your-tokens", "hierarchical-ar", "lexinvariant", "megabyte"],
        choices=["bytes", "subword", "learn-your-tokens", "hierarchical-ar", "lexinvariant", "megabyte"],
        help="models part: the arms to train (the bytes and subword baselines always run; megabyte needs "
        "megabyte-pytorch, in the bench extra)",
    )
    parser.add_argument(
        "--baselines-from",
        type=Path,
        help="models part: read the bytes/subword baselines not named in --arms from this earlier JSON of the same "
        "budget instead of retraining them",
    )
    parser.add_argument(
        "--save-checkpoints", action="store_true", help="models part: save_for_hub the trained models into .cache/"
    )
    parser.add_argument(
        "--summarise",
        type=Path,
        nargs="+",
        help="train nothing: combine result files of this part run at different --seed values (mean over seeds, "
        "per-seed values, 95%% t-intervals of each value and of its paired difference from the baseline)",
    )
    add_common_args(parser)
    args = parser.parse_args()
    if args.summarise:
        try:
            bench = summarise_seeds(args.summarise, f"token_free_{args.part}_seeds", "tiny models trained here")
        except ValueError as exc:
            raise SystemExit(f"--summarise: {exc}") from exc
        bench.finish(args.json)
        return
    if not args.scale > 0:
        raise SystemExit(f"--scale must be > 0, got {args.scale}")
    setup_torch(args)
    if args.part not in PARTS:
        import importlib

        PARTS[args.part] = importlib.import_module(f"_token_free_{args.part}").run
    bench = Benchmark(f"token_free_{args.part}", "tiny models trained here", args.device, args.quick)
    bench.note(f"CPU budget: {args.threads} thread(s), steps x{args.scale}; toy scale (see the script's docstring)")
    PARTS[args.part](bench, args)
    bench.finish(args.json)


if __name__ == "__main__":
    main()
