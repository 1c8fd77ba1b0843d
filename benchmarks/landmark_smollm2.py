"""Landmark attention on SmolLM2-135M (arXiv 2305.16300, the paper's LLaMA fine-tuning at a CPU scale).

Two stages, one script:

* ``--stage train``: the recipe of :mod:`hf_tokens.attention.landmark.finetune` (``<landmark>`` token added, a
  landmark after every ``--block-size`` tokens, grouped softmax, all weights trained) for ``--steps`` batches of
  ``--batch-size`` windows of ``--length`` regular tokens on the first 90% of the ``jargon`` and ``python-stdlib``
  corpora; saved with ``save_for_hub`` (card included) to ``--save`` (git-ignored ``.cache/``).
* ``--stage eval``: perplexity of held-out texts (the last 10% of those corpora, and ``licenses``, never trained
  on) at ``--mults`` x the fine-tuning length, for the original SmolLM2 with sdpa (the baseline, full attention over
  the plain text) and the fine-tuned model through
  :class:`~hf_tokens.attention.landmark.cache.LandmarkCache` with ``--top-k`` blocks retrieved per query and head
  (and with every block); the text is fed in chunks of ``--chunk`` tokens, as the paper evaluates. Only regular
  tokens are scored (the landmark's logit predicts the token after a completed block). Also: keys a decoding step
  attends to (the cache's own count) vs the full context, and passkey accuracy with ``--passkey N`` samples.

    OMP_NUM_THREADS=1 python benchmarks/landmark_smollm2.py --stage train --steps 120 --save .cache/landmark-smollm2
    OMP_NUM_THREADS=1 python benchmarks/landmark_smollm2.py --stage eval --load .cache/landmark-smollm2 \\
        --json bench_results/landmark_smollm2.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hf_tokens.attention.landmark.config import LandmarkAttentionConfig
from hf_tokens.attention.landmark.finetune import add_landmark_token, finetune_landmarks
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch
from hf_tokens.models.lm_training import TrainingBudget

TRAIN_CORPORA = ("jargon", "python-stdlib")
HELD_OUT = 0.9  # the last 10% of each training corpus is held out


def corpus_split(name: str) -> tuple[str, str]:
    from hf_tokens.assets.text import load_text

    text = load_text(name)
    cut = int(len(text) * HELD_OUT)
    return text[:cut], text[cut:]


def train(args: argparse.Namespace) -> dict:
    from hf_tokens.assets import load_model

    model, tokenizer = load_model("smollm2-135m")
    config = LandmarkAttentionConfig(block_size=args.block_size, top_k=args.top_k)
    landmark_id = add_landmark_token(model, tokenizer, config)
    ids = torch.cat([torch.tensor(tokenizer(corpus_split(n)[0])["input_ids"]) for n in TRAIN_CORPORA])
    budget = TrainingBudget(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup)
    start = time.perf_counter()

    def progress(step: int, loss: float) -> None:
        print(f"step {step + 1}/{args.steps} loss {loss:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)

    losses = finetune_landmarks(
        model, ids, config=config, landmark_id=landmark_id, length=args.length, budget=budget, progress=progress
    )
    seconds = time.perf_counter() - start
    summary = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "length": args.length,
        "laid_length": args.length + args.length // args.block_size,
        "block_size": args.block_size,
        "lr": args.lr,
        "seconds": round(seconds, 1),
        "threads": args.threads,
        "train_tokens": ids.numel(),
        "first_losses": [round(x, 4) for x in losses[:10]],
        "last_losses": [round(x, 4) for x in losses[-10:]],
    }
    training = (
        f"`benchmarks/landmark_smollm2.py --stage train`: {args.steps} steps x {args.batch_size} windows of "
        f"{args.length} tokens + {args.length // args.block_size} landmarks (block {args.block_size}), AdamW lr "
        f"{args.lr}, {seconds / 60:.0f} min on {args.threads} CPU thread(s); corpora {', '.join(TRAIN_CORPORA)} "
        f"(first 90%); loss {sum(losses[:10]) / min(10, len(losses)):.3f} (first 10 steps) -> "
        f"{sum(losses[-10:]) / min(10, len(losses)):.3f} (last 10)"
    )
    if args.save:
        from hf_tokens.hub import save_for_hub

        save_for_hub(
            model,
            args.save,
            method_id="landmark-attention",
            tokenizer=tokenizer,
            config=config,
            overwrite=True,
            training=training,
            base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        )
        (Path(args.save) / "training.json").write_text(json.dumps(summary, indent=1))
        print(f"saved to {args.save}")
    print(training)
    return summary


def main(argv: list[str] | None = None) -> dict:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--stage", choices=("train", "eval"), required=True)
    parser.add_argument("--block-size", type=int, default=31, help="regular tokens per block (official LLaMA: 63)")
    parser.add_argument("--length", type=int, default=248, help="fine-tuning length in regular tokens (248 + 8 landmarks = 256 positions)")
    parser.add_argument("--top-k", type=int, default=4, help="blocks retrieved per query and head at inference")
    parser.add_argument("--steps", type=int, default=120, help="training steps: the CPU budget")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--save", default=None, help="train: save the model + card here (e.g. .cache/...)")
    parser.add_argument("--load", default=".cache/landmark-smollm2", help="eval: the fine-tuned folder")
    parser.add_argument("--mults", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--chunk", type=int, default=256, help="eval: tokens per forward")
    parser.add_argument("--texts", type=int, default=1, help="eval: held-out texts per corpus")
    parser.add_argument("--passkey", type=int, default=0, help="eval: passkey samples per length (0: skip)")
    args = parser.parse_args(argv)
    setup_torch(args)
    torch.manual_seed(0)
    if args.stage == "train":
        if args.quick:
            args.steps = 2
        return train(args)
    from benchmarks._landmark_eval import evaluate  # noqa: PLC0415 (the eval stage's own module)

    bench = Benchmark("landmark_smollm2", "SmolLM2-135M-Instruct", args.device, args.quick)
    evaluate(args, bench)
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
