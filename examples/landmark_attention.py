"""Landmark attention: train a small Llama on a passkey task laid out with landmarks, then retrieve blocks.

    python examples/landmark_attention.py                  # CPU, a 2-layer model, 20 steps at 32 tokens
    python examples/landmark_attention.py --steps 1000 --out /tmp/landmark-llama
    python examples/landmark_attention.py --model .cache/landmark-smollm2   # + generate with the fine-tuned SmolLM2

1. registers ``hf_tokens_landmark`` and builds a Llama whose attention is the paper's grouped softmax (a landmark
   token after every ``block_size`` tokens; a query reaches earlier blocks through their landmarks);
2. trains it a few steps on the synthetic passkey task (``hf_tokens.attention.landmark.passkey``);
3. evaluates the passkey at 1x and 2x the training length with every block and with top-2 block retrieval
   (``model.config.landmark_top_k = 2``), and prints how many keys the last query reads;
4. generates the pass key with ``model.generate`` and a ``LandmarkCache`` (every block kept, top-2 blocks retrieved
   per query head; ``enable_landmark_insertion`` puts the landmarks into the input as in training);
5. with ``--out`` saves the model and its card there (``save_for_hub``); nothing is written without it;
6. with ``--model FOLDER`` (SmolLM2 fine-tuned by ``benchmarks/landmark_smollm2.py --stage train``) generates a
   continuation of a long text through the cache and prints the share of keys a step read.
(Real numbers come from ``benchmarks/attention_landmark.py``; this is a few-second illustration.)
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from hf_tokens._compat import cache_kwarg
from hf_tokens.attention.landmark import LandmarkAttentionConfig, register_landmark_attention
from hf_tokens.attention.landmark.cache import LandmarkCache
from hf_tokens.attention.landmark.generation import enable_landmark_insertion
from hf_tokens.attention.landmark.passkey import (
    LANDMARK,
    QUERY_MARK,
    PasskeyTask,
    attended_per_step,
    passkey_accuracy,
    train_passkey,
)
from hf_tokens.models.lm_training import tiny_llama


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--length", type=int, default=32, help="training length in regular tokens")
    parser.add_argument("--block-size", type=int, default=7)
    parser.add_argument("--out", default=None, help="save the trained model and its card into this folder")
    parser.add_argument("--model", default=None, help="a landmark-fine-tuned SmolLM2 folder to generate with")
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

    # generation: the regular tokens up to the query marker; the hooks insert the landmarks, the cache retrieves
    laid, _ = task.sample(1, args.length * 2, args.block_size, torch.Generator().manual_seed(2))
    regular = laid[laid != LANDMARK][None]
    prompt = regular[:, : int((regular[0] == QUERY_MARK).nonzero()[-1]) + 1]
    model.config.landmark_token_id = LANDMARK
    model.set_attn_implementation("sdpa")  # the cache computes landmark attention inside sdpa's call
    enable_landmark_insertion(model)
    cache = LandmarkCache(model.config, top_k=2)
    out = model.generate(prompt, **{cache_kwarg(): cache}, max_new_tokens=task.digits + 2, do_sample=False)
    answer = out[0, prompt.shape[1] :][: task.digits].tolist()
    print(
        f"generate at 2x: key {regular[0, -task.digits :].tolist()}, generated {answer}, "
        f"the 2 decoding steps after the prefill read {cache.attended_fraction:.0%} of the cached keys"
    )
    model.set_attn_implementation(register_landmark_attention())

    if args.model:
        smollm2(args.model)

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


def smollm2(folder: str) -> None:
    """Greedy continuation of a long held-out text by the landmark-fine-tuned SmolLM2 through the cache."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_tokens.assets.text import load_text

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model.set_attn_implementation("sdpa")
    enable_landmark_insertion(model)
    text = load_text("licenses")[:6000]
    ids = tokenizer(text, return_tensors="pt")["input_ids"][:, :1000]
    cache = LandmarkCache(model.config, top_k=4)
    out = model.generate(ids, **{cache_kwarg(): cache}, max_new_tokens=24, do_sample=False)
    print(f"SmolLM2 + landmarks, 1000-token prompt: ...{tokenizer.decode(out[0, ids.shape[1] :])!r}")
    print(f"a decoding step read {cache.attended_fraction:.0%} of the cached keys (top-4 blocks + own + landmarks)")


if __name__ == "__main__":
    main()
