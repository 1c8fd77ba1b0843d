"""Dynamic tokenization: shorten a batch of prompts with batch-level BPE merges and prefill SmolLM2 with them.

    python examples/dynamic_tokenization.py                   # bundled SmolLM2-135M, 4 passages, 100 merges
    python examples/dynamic_tokenization.py --merges 400 --texts 8

Merged tokens get the mean of their pieces' embeddings (the paper's simple baseline); the continuation of each
passage is scored in the original vocabulary after the shortened prefix. Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import statistics

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merges", type=int, default=100, help="merge budget for the batch")
    parser.add_argument("--texts", type=int, default=4, help="passages in the batch")
    parser.add_argument("--chars", type=int, default=600, help="characters of prefix per passage")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from hf_tokens.assets import load_model
    from hf_tokens.assets.text import text_chunks
    from hf_tokens.tokenizers.dynamic import MeanPiecesPredictor, batch_bpe, continuation_nll

    model, tokenizer = load_model("smollm2-135m")
    model.eval()
    chunks = text_chunks("jargon", args.texts, args.chars + 300, seed=0)
    prefixes = [c[: args.chars] for c in chunks]
    conts = [tokenizer(c[args.chars :], add_special_tokens=False).input_ids[:24] for c in chunks]
    predictor = MeanPiecesPredictor(model)

    plain = batch_bpe(tokenizer, prefixes, merges=0)
    dynamic = batch_bpe(tokenizer, prefixes, merges=args.merges)
    assert all(dynamic.decode(tokenizer, i) == tokenizer.decode(plain.original[i]) for i in range(len(prefixes)))
    merged = [repr(tokenizer.decode(list(d))) for d in dynamic.decompositions[:10]]
    print(f"{len(dynamic.merges)} merges, {len(dynamic.decompositions)} dynamic tokens, e.g. {', '.join(merged)}")
    print(
        f"prefix tokens: {plain.dynamic_length} -> {dynamic.dynamic_length} ({dynamic.length_reduction:.1%} shorter)"
    )
    base = statistics.mean(continuation_nll(model, plain, conts, predictor))
    nll = statistics.mean(continuation_nll(model, dynamic, conts, predictor))
    print(f"continuation NLL: original {base:.3f}, dynamic {nll:.3f} ({nll / base - 1:+.1%})")


if __name__ == "__main__":
    main()
