"""Needle Threading (arXiv 2411.05000) on the bundled SmolLM2: single needles and threads in a JSON haystack, with the
full KV cache and with H2O keeping 20% of it.

python examples/needle_threading.py --tokens 512
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m", help="a bundled model name (hf_tokens.assets)")
    parser.add_argument("--tokens", type=int, default=512, help="haystack size in the model's tokens")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from hf_tokens.analysis.needle_threading import needle_threading
    from hf_tokens.assets import load_model
    from hf_tokens.cache.h2o import H2OCache

    model, tok = load_model(args.model)
    grid = {
        "tasks": ["single", "threading"],
        "context_tokens": [args.tokens],
        "depths": [0.5],
        "repeats": args.repeats,
    }
    full = needle_threading(model, tok, id_chars=-2, **grid)
    h2o = needle_threading(model, tok, id_chars=-2, cache=lambda c: H2OCache(c, budget=0.2), **grid)
    for a, b in zip(full.rows, h2o.rows):
        print(
            f"{a['task']:>10} @ {a['tokens']} tokens ({a['context_chars']:.0f} characters, "
            f"{a['chars_per_token']:.2f} per token): full cache {a['accuracy']:.2f}, H2O 20% {b['accuracy']:.2f}"
        )


if __name__ == "__main__":
    main()
