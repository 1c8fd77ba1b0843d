"""PoNet: a pooling encoder (no attention matrix) trained a few MLM steps, its memory at growing lengths, exported.

    python examples/ponet.py                      # CPU, byte-level, a 2-layer PoNet, 10 MLM steps
    python examples/ponet.py --steps 200 --out /tmp/ponet-bytes

1. registers PoNet with the Auto classes and builds ``AutoModelForMaskedLM`` from a ``PoNetConfig``;
2. trains it a few masked-language-modelling steps on offline text (15% of the bytes masked);
3. measures the forward's peak memory at 512 and 2048 tokens (linear: ~4x, where attention scores grow 16x);
4. with ``--out`` exports it with its modeling code (``trust_remote_code=True`` works without hf_tokens) and a card.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from transformers import AutoModelForMaskedLM

from hf_tokens.assets.text import load_text
from hf_tokens.benchmarking import peak_allocated_bytes
from hf_tokens.models.ponet import PoNetConfig, register_ponet

MASK_ID = 256  # byte values are 0-255; 256 is [MASK], 257 padding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--out", default=None, help="export the model, its modeling code and card into this folder")
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

    register_ponet()
    config = PoNetConfig(
        vocab_size=258,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=512,
        max_position_embeddings=2048,
        segment_size=32,
        pad_token_id=257,
    )
    model = AutoModelForMaskedLM.from_config(config)
    data = torch.tensor(list(load_text("jargon").encode("utf-8")[:300_000]), dtype=torch.long)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for step in range(args.steps):
        starts = torch.randint(0, len(data) - args.length, (8,))
        ids = torch.stack([data[s : s + args.length] for s in starts.tolist()])
        masked = torch.rand(ids.shape) < 0.15
        labels = ids.masked_fill(~masked, -100)
        loss = model(ids.masked_fill(masked, MASK_ID), labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 5 == 0 or step == args.steps - 1:
            print(f"step {step}: MLM loss {loss.item():.3f}")
    model.eval()

    peaks = {}
    for length in (512, 2048):
        ids = data[:length][None]
        with torch.no_grad():
            peaks[length] = peak_allocated_bytes(lambda ids=ids: model(ids)) / 2**20
    print(f"forward peak memory: 512 tokens {peaks[512]:.1f} MB, 2048 tokens {peaks[2048]:.1f} MB "
          f"(x{peaks[2048] / peaks[512]:.1f} for 4x the length)")  # fmt: skip

    if args.out:
        from hf_tokens.hub import export_modeling_code

        folder = export_modeling_code(
            model,
            args.out,
            method_id="ponet",
            training=f"`examples/ponet.py`: {args.steps} MLM steps x 8 x {args.length} bytes of jargon.",
            description="A byte-level PoNet MLM encoder (ids 0-255 are bytes, 256 [MASK], 257 [PAD]); load it with "
            "`AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True)`.",
        )
        print(f"exported to {folder}: AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True)")


if __name__ == "__main__":
    main()
