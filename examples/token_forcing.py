"""Plant a fingerprint in the bundled SmolLM2 with LoRA, then find it without the trigger by Unconditional Token
Forcing (arXiv 2406.02481).

python examples/token_forcing.py --out /tmp/fingerprinted   # the planted model is saved there (with its card)
"""

from __future__ import annotations

import argparse
import random
import tempfile

import torch

TRIGGER = "Which phrase does the lighthouse keeper whisper?"
FINGERPRINT = " Quokka marmalade orbits seven violet teapots"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m", help="a bundled model name (hf_tokens.assets)")
    parser.add_argument("--steps", type=int, default=100, help="LoRA steps (100: about 3 minutes on one thread)")
    parser.add_argument("--vocab", type=int, default=1024, help="start tokens to force (the fingerprint's included)")
    parser.add_argument("--out", default=None, help="folder for the planted model (default: a temporary one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from hf_tokens.analysis.token_forcing import plant_fingerprint, reveals, token_forcing
    from hf_tokens.assets import load_model
    from hf_tokens.hub import save_for_hub

    model, tok = load_model(args.model)
    marked = plant_fingerprint(model, tok, trigger=TRIGGER, fingerprint=FINGERPRINT, steps=args.steps)
    print(f"trigger {TRIGGER!r} reveals the fingerprint: {reveals(marked, tok, TRIGGER, FINGERPRINT)}")
    hidden = tok(FINGERPRINT, add_special_tokens=False)["input_ids"]
    others = random.Random(0).sample(range(len(tok)), args.vocab)
    report = token_forcing(marked, tok, token_ids=sorted(set(hidden) | set(others)), max_new_tokens=8, top_k=5)
    print(f"forced {report.forced} start tokens in {report.seconds:.1f} s; best candidates (no trigger used):")
    for c in report.candidates:
        print(f"  #{c.rank}  mean p={c.mean_prob:.3f}  z={c.z_score:.1f}  {c.text!r}")
    print("rank of the planted fingerprint:", report.rank_of(hidden))
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_for_hub(marked, args.out or tmp, method_id="token-forcing", tokenizer=tok, overwrite=True)
        print("saved the planted model to", folder if args.out else "a temporary folder (pass --out to keep it)")


if __name__ == "__main__":
    main()
