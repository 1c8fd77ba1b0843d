"""Landmark attention: train a small Llama on a passkey task laid out with landmarks, then retrieve blocks.

    python examples/landmark_attention.py                  # CPU, a 2-layer model, 20 steps at 32 tokens
    python examples/landmark_attention.py --steps 1000 --out /tmp/landmark-llama

1. registers ``hf_tokens_landmark`` and builds a Llama whose attention is the paper's grouped softmax (a landmark
   token after every ``block_size`` tokens; a query reaches earlier blocks through their landmarks);
2. trains it a few steps on the synthetic passkey task (``hf_tokens.attention.landmark.passkey``);
3. evaluates the passkey at 1x and 2x the training length with every block and with top-2 block retrieval
   (``model.config.landmark_top_k = 2``), and prints how many keys the last query reads;
4. with ``--out`` saves the model and its card there (``save_for_hub``); nothing is written without it.
(Real numbers come from ``benchmarks/attention_landmark.py``; this is a few-second illustration.)
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from hf_tokens.attention.landmark import LandmarkAttentionConfig, register_landmark_attention
from hf_tokens.attention.landmark.passkey import PasskeyTask, attended_per_step, passkey_accuracy, train_passkey
from hf_tokens.models.lm_training import tiny_llama


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--length", type=int, default=32, help="training length in regular tokens")
    parser.add_argument("--block-size", type=int, default=7)
    parser.add_argument("--out", default=None, help="save the trained model and its card into this folder")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

    task = PasskeyTask(digits=1)
    model = tiny_llama(task.vocab_size, hidden=64, layers=2, max_len=4096)
    landmark = LandmarkAttentionConfig(block_size=args.block_size)
    landmark.apply(model.config)
    model.set_attn_implementation(register_landmark_attention())
    stats = train_passkey(
        model, task, block_size=args.block_size, length=args.length, steps=args.steps, seconds=600, batch_size=16
    )
    print(f"trained {stats['steps']} steps, final answer loss {stats['final_loss']:.3f}")
    for mult in (1, 2):
        length = args.length * mult
        laid = length + length // args.block_size
        for top_k in (0, 2):
            model.config.landmark_top_k = top_k
            acc = passkey_accuracy(model, task, block_size=args.block_size, length=length, samples=16, seed=1)
            read = attended_per_step(laid, args.block_size, top_k)
            print(f"{mult}x ({laid} positions), top_k={top_k}: passkey {acc:.0%}, last query reads {read:.0f} keys")
    model.config.landmark_top_k = 0

    if args.out:
        from hf_tokens.hub import save_for_hub

        folder = save_for_hub(
            model,
            args.out,
            method_id="landmark-attention",
            config=landmark,
            training=f"`examples/landmark_attention.py`: {stats['steps']} steps x 16 passkey rows of {args.length}.",
        )
        print(f"saved the model and its card to {folder}")


if __name__ == "__main__":
    main()
