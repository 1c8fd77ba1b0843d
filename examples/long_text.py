"""Long-text hacks (arXiv 2403.12563) through the ``long-text-classification`` transformers pipeline: shorten man
pages with each transform to a token budget, fine-tune the top of the bundled MiniLM on the shortened training
pages, and classify a held-out page (its manual section) with the shortening applied inside the pipeline.

    python examples/long_text.py                          # 100 training pages, 30 steps, 128 tokens
    python examples/long_text.py --length 256 --removals stopwords --truncation head+tail
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=128, help="tokens per page, special tokens included")
    parser.add_argument("--removals", nargs="*", default=["stopwords"], help="stopwords punctuation rare recurring")
    parser.add_argument("--truncation", default="head", help="head, tail or head+tail")
    parser.add_argument("--train", type=int, default=100, help="training pages")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(ROOT))

    from transformers import AutoModelForSequenceClassification, pipeline
    from transformers.utils import logging

    import hf_tokens.pipelines.long_text_hacks.pipeline  # noqa: F401  (registers "long-text-classification")
    from benchmarks.data.long_text import load_long_text
    from hf_tokens.assets import load_tokenizer
    from hf_tokens.assets.loaders import minilm_folder
    from hf_tokens.pipelines.long_text_hacks import LongTextHacksConfig, fine_tune, frozen_states, word_counts

    data = load_long_text()
    train, test = data["splits"]["train"][: args.train], data["splits"]["test"]
    tok = load_tokenizer("minilm-l6")
    counts = word_counts(d["text"] for d in train)
    page = test[0]["text"]
    budget = args.length - tok.num_special_tokens_to_add(pair=False)
    print(f"a test page of {len(tok(page, add_special_tokens=False)['input_ids'])} tokens, cut to {budget}:")
    for removals in ((), ("stopwords",), ("punctuation",), ("rare",), ("recurring",)):
        short = LongTextHacksConfig(removals).shorten(page, tok, budget, counts=counts)
        print(f"  {'+'.join(removals) or 'first tokens':12s} {short[:100]!r}")

    config = LongTextHacksConfig(tuple(args.removals), args.truncation)
    labels = data["labels"]
    torch.manual_seed(0)
    logging.set_verbosity_error()  # the new head's "MISSING" load report is expected
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_folder(), num_labels=len(labels), id2label=dict(enumerate(labels))
    )
    texts = [config.shorten(d["text"], tok, budget, counts=counts) for d in train]
    states = frozen_states(model, tok, texts, args.length, train_layers=1)
    losses = fine_tune(model, states, [d["label"] for d in train], train_layers=1, steps=args.steps, lr=1e-3)
    print(f"fine-tuned the top layer on {len(train)} pages ({config.name}): loss {losses[0]:.2f} -> {losses[-1]:.2f}")

    clf = pipeline("long-text-classification", model=model, tokenizer=tok, max_length=args.length,
                   shortening=config, counts=counts)  # fmt: skip
    for doc in test[:3]:
        out = clf(doc["text"])
        print(f"{doc['name']:28s} true {labels[doc['label']]}, predicted {out['label']} ({out['score']:.2f}), "
              f"{out['tokens']} tokens")  # fmt: skip


if __name__ == "__main__":
    main()
