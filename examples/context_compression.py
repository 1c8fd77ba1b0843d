"""Compress retrieved context before the reader sees it: TCRA-LLM's summarisation and semantic compression (and both
composed) at a token budget, and CRAG's clustered summaries of several passages, on the bundled SmolLM2 + MiniLM.

    python examples/context_compression.py
    python examples/context_compression.py --rate 0.3 --modes semantic,summarize,both

Budgets are counted in the reader's (SmolLM2's) tokens; semantic compression keeps a subsequence of the input.
"""

from __future__ import annotations

import argparse

import torch

PASSAGES = [
    "The gzip module provides a simple interface to compress and decompress files just like the GNU programs gzip "
    "and gunzip would. The data compression is provided by the zlib module.",
    "The GzipFile class reads and writes gzip-format files, automatically compressing or decompressing the data so "
    "that it looks like an ordinary file object.",
    "A socket server binds an address, listens on a port and accepts connections from clients.",
    "The socketserver module simplifies writing network servers: TCPServer and UDPServer handle the requests.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=0.5, help="fraction of the context's tokens kept")
    parser.add_argument("--modes", default="semantic,summarize", help="TCRA modes: semantic, summarize, both")
    parser.add_argument("--crag-tokens", type=int, default=24, help="token budget of each CRAG cluster summary")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from transformers import pipeline

    from hf_tokens.assets import load_encoder, load_model
    from hf_tokens.pipelines.crag.pipeline import TASK as CRAG_TASK  # importing registers 'clustered-rag'
    from hf_tokens.pipelines.tcra.pipeline import TASK as TCRA_TASK  # importing registers 'context-compression'

    torch.manual_seed(0)
    model, tokenizer = load_model("smollm2-135m")
    encoder, encoder_tokenizer = load_encoder("minilm-l6")
    models = dict(model=model, tokenizer=tokenizer, encoder=encoder.eval(), encoder_tokenizer=encoder_tokenizer)

    compressor = pipeline(TCRA_TASK, **models)
    context = "\n\n".join(PASSAGES[:2])
    for mode in args.modes.split(","):
        out = compressor({"context": context}, rate=args.rate, mode=mode)
        print(f"[tcra {mode}] {out['original_tokens']} -> {out['compressed_tokens']} tokens: {out['compressed_text']}")

    crag = pipeline(CRAG_TASK, **models)
    out = crag({"passages": PASSAGES}, n_clusters=2, summary_tokens=args.crag_tokens)
    print(f"[crag] clusters {out['clusters']}: {out['original_tokens']} -> {out['compressed_tokens']} tokens")
    for summary in out["summaries"]:
        print("  -", summary)


if __name__ == "__main__":
    main()
