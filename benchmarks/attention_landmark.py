"""Landmark attention (arXiv 2305.16300): passkey retrieval beyond the training length, tokens attended per step.

A small Llama trained from scratch with ``hf_tokens_landmark`` (grouped softmax) on the synthetic passkey task of
:mod:`hf_tokens.attention.landmark.passkey` at ``--length`` regular tokens, then evaluated at 1x, 2x and 4x that
length with every block (grouped softmax, ``top_k=0``: the whole prefix) and with block retrieval (``--top-k``
blocks per query and head). Rows: passkey accuracy per length and arm, and the share of the prefix the last query
reads (own block + retrieved blocks + the landmarks it scores) against full attention. The CPU budget is
``--steps``/``--seconds`` at ``--threads`` (raise them on a GPU with ``--device cuda``)::

    PYTHONPATH=. python benchmarks/attention_landmark.py --json bench_results/attention_landmark.json
"""

from __future__ import annotations

import argparse

import torch

from hf_tokens.attention.landmark import LandmarkAttentionConfig, register_landmark_attention
from hf_tokens.attention.landmark.passkey import PasskeyTask, attended_per_step, passkey_accuracy, train_passkey
from hf_tokens.benchmarking import Benchmark, add_common_args, setup_torch
from hf_tokens.models.lm_training import tiny_llama


def main(argv: list[str] | None = None) -> dict:
    parser = add_common_args(argparse.ArgumentParser(description=__doc__))
    parser.add_argument("--length", type=int, default=48, help="training length in regular tokens")
    parser.add_argument("--block-size", type=int, default=7, help="regular tokens per landmark block")
    parser.add_argument("--top-k", type=int, default=2, help="blocks retrieved per query and head at inference")
    parser.add_argument("--digits", type=int, default=1, help="digits of the pass key")
    parser.add_argument("--steps", type=int, default=3000, help="training steps (the CPU budget, with --seconds)")
    parser.add_argument("--seconds", type=float, default=420.0, help="training wall-clock budget")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--samples", type=int, default=64, help="passkey samples per length and arm")
    parser.add_argument("--mults", type=int, nargs="+", default=[1, 2, 4], help="evaluation lengths / training's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="save the trained model + card here (save_for_hub; e.g. .cache/)")
    args = parser.parse_args(argv)
    setup_torch(args)
    if args.quick:
        args.steps, args.seconds, args.samples, args.mults = 5, 30.0, 4, [1, 2]
    torch.manual_seed(args.seed)
    task = PasskeyTask(digits=args.digits)
    model = tiny_llama(task.vocab_size, hidden=args.hidden, layers=args.layers, max_len=1 << 16).to(args.device)
    LandmarkAttentionConfig(block_size=args.block_size).apply(model.config)
    model.set_attn_implementation(register_landmark_attention())
    trained = train_passkey(
        model,
        task,
        block_size=args.block_size,
        length=args.length,
        steps=args.steps,
        seconds=args.seconds,
        batch_size=args.batch_size,
        max_offset=(max(args.mults) - 1) * (args.length + args.length // args.block_size),
        seed=args.seed,
    )
    bench = Benchmark("attention_landmark", f"llama {args.layers}x{args.hidden} from scratch", args.device, args.quick)
    bench.notes.append(
        f"trained {trained['steps']} steps in {trained['seconds']:.0f} s (budget {args.steps} steps / "
        f"{args.seconds:.0f} s, {args.threads} thread(s), {args.device}), batch {args.batch_size}, length "
        f"{args.length} + landmarks, block {args.block_size}, final loss {trained['final_loss']:.3f}"
    )
    for mult in args.mults:
        length = args.length * mult
        laid = length + length // args.block_size
        accs = {}
        for arm, top_k in (("landmark-all-blocks", 0), (f"landmark-top{args.top_k}", args.top_k)):
            model.config.landmark_top_k = top_k
            accs[arm] = passkey_accuracy(
                model, task, block_size=args.block_size, length=length, samples=args.samples, seed=args.seed + 1
            )
            read = attended_per_step(laid, args.block_size, top_k)
            extra = {"train_length": args.length, "train_steps": trained["steps"], "samples": args.samples}
            bench.add(arm, f"passkey_acc@{mult}x", accs[arm], **extra)
            bench.add(arm, f"attended@{mult}x", read, baseline="full", baseline_value=laid, **extra)
        model.config.landmark_top_k = 0
    if args.save:
        from hf_tokens.hub import save_for_hub

        save_for_hub(
            model,
            args.save,
            method_id="landmark-attention",
            config=LandmarkAttentionConfig(block_size=args.block_size),
            overwrite=True,
            training=f"`benchmarks/attention_landmark.py`: {bench.notes[0]}.",
        )
    return bench.finish(args.json)


if __name__ == "__main__":
    main()
