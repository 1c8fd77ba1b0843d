"""PAWN (arXiv 2501.03940) with the bundled SmolLM2: cache per-token features of human and SmolLM2-sampled texts
on disk, train the small PAWN head on them, save it, and score texts with the ``pawn-llm-text-detection`` pipeline.

python examples/pawn.py [--out FOLDER] [--texts N] [--tokens T] [--epochs E]   # written only under FOLDER
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the feature cache and trained head (default: a temporary one)")  # fmt: skip
    parser.add_argument("--texts", type=int, default=8, help="human and machine texts each")
    parser.add_argument("--tokens", type=int, default=48, help="tokens per text")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    if args.out is None:
        with tempfile.TemporaryDirectory() as tmp:
            run(args, Path(tmp))
    else:
        run(args, args.out)


def run(args: argparse.Namespace, out: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    from transformers import pipeline

    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.pipelines.pawn import PawnConfig, PawnHead, PawnPipeline, cache_features, train_pawn  # noqa: F401

    model, tok = load_model("smollm2-135m")
    human, machine = [], []
    for chunk in text_chunks("jargon", args.texts, 8 * args.tokens, seed=0):
        ids = tok(chunk, add_special_tokens=False, return_tensors="pt")["input_ids"][:, : 2 * args.tokens]
        human.append(tok.decode(ids[0, args.tokens :]))
        sample = model.generate(ids[:, : args.tokens], attention_mask=torch.ones_like(ids[:, : args.tokens]),
                                do_sample=True, top_k=0, top_p=1.0, max_new_tokens=args.tokens,
                                min_new_tokens=args.tokens)  # fmt: skip
        machine.append(tok.decode(sample[0, args.tokens :]))
    files = cache_features(model, tok, human + machine, out / "features")
    head, log = train_pawn(files, [0] * len(human) + [1] * len(machine), PawnConfig(epochs=args.epochs, batch_size=4))
    print(f"trained on {len(files)} cached texts: loss {log['loss'][0]:.3f} -> {log['loss'][-1]:.3f}")
    head.save_pretrained(out / "pawn_head")
    detect = pipeline(
        "pawn-llm-text-detection", model=model, tokenizer=tok, head=PawnHead.from_pretrained(out / "pawn_head")
    )
    for name, text in (("human", human[0]), ("SmolLM2", machine[0])):
        r = detect(text, baselines=True)
        print(f"{name:8s} PAWN logit {r['score']:+.2f} (p machine {r['probability']:.2f}), mean log-p "
              f"{r['log_likelihood']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
