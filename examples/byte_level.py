"""Exact next-byte probabilities and prompt-boundary healing with the bundled SmolLM2 (arXiv 2410.09303).

python examples/byte_level.py
"""

from __future__ import annotations

import argparse

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m", help="a bundled model name (hf_tokens.assets)")
    parser.add_argument("--prompt", default="def add(a, b):\n    ret")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from hf_tokens.assets import load_model
    from hf_tokens.generation.byte_level import ByteLevelLM, generate

    model, tok = load_model(args.model)
    lm = ByteLevelLM(model, tok)
    dist = lm.next_byte_distribution(args.prompt)
    top = torch.topk(dist, 5)
    print(f"prompt {args.prompt!r} ends inside a token; most likely next bytes:")
    for p, b in zip(top.values.tolist(), top.indices.tolist()):
        print(f"  {bytes([b]) if b < 256 else '<end>'!r}: {p:.3f}")
    ids = tok(args.prompt, return_tensors="pt")
    plain = model.generate(**ids, max_new_tokens=8, do_sample=False)
    healed = model.generate(**ids, max_new_tokens=8, custom_generate=generate, byte_lm=lm, prompt_boundary="cover")
    n = ids.input_ids.shape[1]
    print("token greedy :", repr(tok.decode(plain[0, n:])))
    print("byte-level   :", repr(lm.vocab.decode(healed[0, n:].tolist()).decode("utf-8", "replace")))


if __name__ == "__main__":
    main()
