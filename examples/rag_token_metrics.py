"""Token-level RAG metrics: validate an LLM's question/evidence reply by exact span matching, chunk a document at
several sizes, retrieve with BM25, and read recall, precision, IoU and Precision Omega.

    python examples/rag_token_metrics.py
    python examples/rag_token_metrics.py --generate       # ask the bundled SmolLM2 for the pair instead

Smaller chunks raise Precision Omega (less text around the evidence) and can cost recall: the paper's trade-off.
"""

from __future__ import annotations

import argparse

import torch

DOCUMENT = """The gzip module provides a simple interface to compress and decompress files just like the GNU
programs gzip and gunzip would.

The data compression is provided by the zlib module. The gzip module provides the GzipFile class, as well as the
open(), compress() and decompress() convenience functions. The GzipFile class reads and writes gzip-format files,
automatically compressing or decompressing the data so that it looks like an ordinary file object.

Note that additional file formats which can be decompressed by the gzip and gunzip programs, such as those produced
by compress and pack, are not supported by this module."""

REPLY = """Evidence: The data compression is provided by the zlib module.
Question: Which module does the actual compression work for gzip?
Answer: zlib"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--generate", action="store_true", help="generate the reply with the bundled SmolLM2")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from hf_tokens.pipelines.rag_token_metrics import (
        evaluate_retrieval,
        fixed_token_chunks,
        generate_replies,
        validate_pair,
        whitespace_offsets,
    )
    from hf_tokens.pipelines.xtr import BM25

    reply = REPLY
    if args.generate:
        from hf_tokens.assets import load_model

        model, tokenizer = load_model("smollm2-135m")
        reply = generate_replies(model, tokenizer, [DOCUMENT], batch_size=1)[0]
    pair = validate_pair("gzip", DOCUMENT, reply)
    if isinstance(pair, str):
        print(f"the reply failed validation ({pair}):\n{reply}")
        return
    print(f"question: {pair.question}\nreference spans: {pair.spans}")
    for size in (8, 16, 32, 64):
        chunks = fixed_token_chunks(whitespace_offsets(DOCUMENT), size)
        scores = BM25([DOCUMENT[a:b] for a, b in chunks]).scores(pair.question)
        top = sorted(range(len(chunks)), key=lambda i: -scores[i])[:2]
        report = evaluate_retrieval({"gzip": DOCUMENT}, [pair], {"gzip": chunks}, [[("gzip", i) for i in top]])
        print(
            f"chunks of {size:>2} words: recall {report.recall:.2f} precision {report.precision:.2f} "
            f"IoU {report.iou:.2f} Precision Omega {report.precision_omega:.2f}"
        )


if __name__ == "__main__":
    main()
