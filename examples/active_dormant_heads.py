"""Attention sinks and active-dormant heads of the bundled SmolLM2 on code, prose and numbers (arXiv 2410.13835).

python examples/active_dormant_heads.py --texts 2
"""

from __future__ import annotations

import argparse
import random

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m", help="a bundled model name (hf_tokens.assets)")
    parser.add_argument("--texts", type=int, default=2, help="texts per domain")
    parser.add_argument("--tokens", type=int, default=96, help="tokens per text")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from hf_tokens.analysis.active_dormant_heads import active_dormant_heads
    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks

    model, tok = load_model(args.model)
    rng = random.Random(0)
    texts = {
        "code": text_chunks("python-stdlib", args.texts, 600),
        "prose": text_chunks("jargon", args.texts, 600),
        "numbers": [" ".join(str(rng.randrange(10**6)) for _ in range(80)) for _ in range(args.texts)],
    }
    report = active_dormant_heads(model, tok, texts, max_tokens=args.tokens)
    for d in report.domains:
        peak = max(report.residual_peak[d])
        print(f"{d:>8}: {report.dormant_share[d]:.0%} of heads dormant; residual peak of the first token x{peak:.1f}")
    print(f"{len(report.switching_heads)} heads are dormant on some domains and active on others, e.g.:")
    for h in report.switching_heads[:3]:
        shares = ", ".join(f"{d} {s:.2f}" for d, s in h["sink_share"].items())
        print(f"  layer {h['layer']} head {h['head']}: sink share {shares}")


if __name__ == "__main__":
    main()
