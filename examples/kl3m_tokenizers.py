"""Train a KL3M cased domain tokenizer and a KL3M character tokenizer on licence text, compare, save with a card.

    python examples/kl3m_tokenizers.py                              # 8k domain + 4k character tokenizer, printed
    python examples/kl3m_tokenizers.py --vocab-size 16384 --out kl3m-licences   # also saves both with cards

Training text: the licences in /usr/share/common-licenses (the first 80%); the rest is held out for the comparison
with the bundled SmolLM2 tokenizer. ``--out`` is the only place anything is written.
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=8192, help="domain tokenizer vocabulary (paper: 128k)")
    parser.add_argument("--char-size", type=int, default=4096, help="character tokenizer vocabulary (4k/8k/16k)")
    parser.add_argument("--out", default=None, help="save both tokenizers with cards under this folder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", str(args.threads))

    from hf_tokens.assets import load_tokenizer
    from hf_tokens.assets.text import load_text
    from hf_tokens.tokenizers.kl3m import (
        KL3MConfig,
        boundary_consistency,
        save_kl3m_tokenizer,
        train_kl3m_char_tokenizers,
        train_kl3m_tokenizer,
    )

    text = load_text("licenses")
    cut = int(0.8 * len(text))
    train = [text[i : i + 10_000] for i in range(0, cut, 10_000)]
    held_out = text[cut:]
    config = KL3MConfig(vocab_size=args.vocab_size)
    domain = train_kl3m_tokenizer(train, config)
    char = train_kl3m_char_tokenizers(train, (args.char_size,))[args.char_size]
    general = load_tokenizer("smollm2")

    for name, tok in (("kl3m domain", domain), ("kl3m char", char), ("smollm2", general)):
        n = len(tok(held_out, add_special_tokens=False)["input_ids"])
        print(f"{name:>12}: vocab {len(tok):>6}, {n / len(held_out):.3f} tokens per character on held-out licences")
    sentence = "The Licensor shall not be liable under Section 7(b) for damages arising in 2019."
    print("domain tokens:", domain.tokenize(sentence))

    wrong, right = "The Licensee rnay not sublicense the Work.", "The Licensee may not sublicense the Work."
    for name, tok in (("kl3m char", char), ("kl3m domain", domain), ("smollm2", general)):
        report = boundary_consistency(tok, wrong, right)
        print(f"{name:>12}: OCR error vs correction, {report.mismatched} token boundaries differ outside the edit")

    if args.out:
        for name, tok, cfg in (("domain", domain, config), ("char", char, None)):
            folder = save_kl3m_tokenizer(tok, os.path.join(args.out, name), config=cfg, name=f"kl3m-{name}-licences")
            print(f"saved {folder} (tokenizer + README.md card)")


if __name__ == "__main__":
    main()
