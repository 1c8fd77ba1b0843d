"""Retrieve documentation chunks with XTR (scoring from retrieved tokens only) and with ColBERT MaxSim, through the
``token-retrieval`` transformers pipeline; optionally fine-tune the encoder with XTR's loss and save it for the Hub.

    python examples/xtr_retrieval.py                                   # bundled MiniLM, stdlib pydoc chunks
    python examples/xtr_retrieval.py --steps 20 --out xtr-minilm       # a few XTR training steps, saved with a card
"""

from __future__ import annotations

import argparse
import pydoc

import torch


def pydoc_chunks(modules: list[str], words: int = 60) -> list[str]:
    """Chunks of about ``words`` words of the DESCRIPTION that pydoc renders for ``modules``."""
    import importlib

    chunks = []
    for name in modules:
        text = pydoc.render_doc(importlib.import_module(name), renderer=pydoc.plaintext)
        body = text.split("\nDESCRIPTION\n", 1)[-1].split("\nCLASSES\n")[0].split("\nFUNCTIONS\n")[0]
        tokens = body.split()
        chunks += [f"{name}: " + " ".join(tokens[i : i + words]) for i in range(0, min(len(tokens), 600), words)]
    return chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=0, help="XTR training steps (inverse-cloze pairs of the chunks)")
    parser.add_argument("--out", default=None, help="save the trained encoder + tokenizer + card here")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import pipeline

    import hf_tokens.pipelines.xtr  # noqa: F401  (registers the "token-retrieval" task)
    from hf_tokens.assets import load_encoder
    from hf_tokens.pipelines.xtr import XTRConfig
    from hf_tokens.pipelines.xtr.train import inverse_cloze_pairs, train_xtr

    model, tokenizer = load_encoder("minilm-l6")
    chunks = pydoc_chunks(["gzip", "json", "sqlite3", "heapq", "shutil"])
    config = XTRConfig(k_prime=32, top_k=3)
    if args.steps:
        queries, passages = inverse_cloze_pairs(chunks, words=8)
        log = train_xtr(model, tokenizer, queries, passages, config, steps=args.steps, batch_size=8)
        print(f"XTR training: loss {log['losses'][0]:.3f} -> {log['losses'][-1]:.3f} in {log['seconds']:.0f} s")
    retriever = pipeline("token-retrieval", model=model, tokenizer=tokenizer, documents=chunks, config=config)
    for question in ("How do I compress a file?", "Which module implements a priority queue?"):
        for scoring in ("xtr", "maxsim"):
            best = retriever(question, scoring=scoring)[0]
            print(f"{scoring:>6} | {question} -> {chunks[best['index']][:70]!r} ({best['score']:.3f})")
    if args.out:
        from hf_tokens.hub import save_for_hub

        folder = save_for_hub(
            model, args.out, method_id="xtr", tokenizer=tokenizer, config=config, auto_class="AutoModel"
        )
        print(f"saved to {folder}")


if __name__ == "__main__":
    main()
