"""Softplus attention with re-weighting (LSSA / LSSAR): train a small byte-level Llama, then read it longer.

    python examples/softplus_attention.py                  # CPU, a 2-layer model, 30 steps at 64 bytes
    python examples/softplus_attention.py --steps 300 --out /tmp/lssa-byte-llama

1. registers ``hf_tokens_softplus`` and builds a Llama whose attention is ``l1norm(softplus(log d log N cos))``;
2. trains it a few steps on offline text (``hf_tokens.assets.text``), every row of its weights summing to one;
3. evaluates held-out text at 1x and 4x the training length, with re-weighting off and switched on at inference
   (``model.config.softplus_reweight_power = 15``: no fine-tuning, no reload);
4. with ``--out`` saves the model and its card there (``save_for_hub``); nothing is written without it.
(Real numbers come from ``benchmarks/attention.py``; this is a few-second illustration.)
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from hf_tokens.assets.text import load_text
from hf_tokens.attention.softplus import SoftplusAttentionConfig, register_softplus_attention
from hf_tokens.attention.softplus.reference import softplus_attention_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--length", type=int, default=64, help="training length in bytes")
    parser.add_argument("--out", default=None, help="save the trained model and its card into this folder")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

    key = register_softplus_attention()
    lssa = SoftplusAttentionConfig()  # the paper's LSSA; re-weighting off while training
    config = LlamaConfig(
        vocab_size=256,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=args.length * 4,
        tie_word_embeddings=True,
        **lssa.to_model_kwargs(),
    )
    model = AutoModelForCausalLM.from_config(config, attn_implementation=key)
    data = torch.tensor(list(load_text("jargon").encode("utf-8")[:400_000]), dtype=torch.long)
    train, held_out = data[:360_000], data[360_000:]

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(args.steps):
        starts = torch.randint(0, len(train) - args.length, (8,))
        ids = torch.stack([train[s : s + args.length] for s in starts.tolist()])
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0 or step == args.steps - 1:
            print(f"step {step}: training loss {loss.item():.3f} nats/byte")
    model.eval()

    # the l1 normalisation: every row of the attention weights sums to one (masked keys get exactly zero)
    q, k = torch.randn(1, 2, 6, 64), torch.randn(1, 2, 6, 64)
    mask = torch.ones(6, 6, dtype=torch.bool).tril()[None, None]
    weights = softplus_attention_weights(q, k, mask, scaling=0.125)
    print("row sums of LSSA weights:", [round(x, 6) for x in weights.sum(-1)[0, 0].tolist()])

    with torch.no_grad():
        for power in (0.0, 15.0):
            model.config.softplus_reweight_power = power  # read at every call: no reload
            losses = []
            for length in (args.length, 4 * args.length):
                rows = held_out[: 4 * args.length * 4].view(-1, length)[:4]
                losses.append(sum(model(r[None], labels=r[None]).loss.item() for r in rows) / len(rows))
            name = "LSSA" if power == 0 else f"LSSAR p={power:g} (inference only)"
            print(
                f"{name}: held-out loss at {args.length} bytes {losses[0]:.3f}, at {4 * args.length} {losses[1]:.3f}"
            )
    model.config.softplus_reweight_power = 0.0

    if args.out:
        from hf_tokens.hub import save_for_hub

        folder = save_for_hub(
            model,
            args.out,
            method_id="softplus-attention",
            config=lssa,
            training=f"`examples/softplus_attention.py`: {args.steps} steps x 8 x {args.length} bytes of jargon.",
        )
        print(f"saved the model and its card to {folder}")


if __name__ == "__main__":
    main()
