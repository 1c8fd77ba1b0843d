"""How well a (transplanted) model predicts text, comparably across tokenizers: loss per character.

Tokenizers cut the same text into different numbers of tokens, so per-token perplexities cannot be compared between
a model and its transplant. :func:`nll_per_char` sums the next-token negative log-likelihood of every token after the
first and divides it by the number of characters those tokens cover (the text minus the first token's span), so
``exp(nll_per_char(new) - nll_per_char(old))`` is the per-character perplexity ratio the transfer benchmarks report
(1.0 = nothing lost).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def nll_per_char(model: Any, tokenizer: Any, texts: str | Sequence[str]) -> float:
    """Summed next-token NLL (nats) over everything after each text's first token, per character those tokens cover.

    Args:
        model: a causal LM whose input ids are ``tokenizer``'s.
        tokenizer: a fast tokenizer (``return_offsets_mapping`` is needed to know what the first token covers).
        texts: one text or a list of texts; each is encoded on its own without special tokens.
    """
    return pooled_nll_per_char(nll_and_chars(model, tokenizer, texts))


def pooled_nll_per_char(parts: Sequence[tuple[float, int]]) -> float:
    """Summed NLL over summed characters of :func:`nll_and_chars`' per-text pieces (what :func:`nll_per_char` is)."""
    return sum(n for n, _ in parts) / sum(c for _, c in parts)


def nll_and_chars(model: Any, tokenizer: Any, texts: str | Sequence[str]) -> list[tuple[float, int]]:
    """Per text: (summed NLL in nats, characters scored), as :func:`nll_per_char` pools them (for intervals)."""
    import torch

    from hf_tokens.analysis.token_stats import token_stats

    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a non-empty str or a non-empty list of str")
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"tokenizer must be a fast tokenizer (offsets needed), got {type(tokenizer).__name__}")
    out = []
    for text in texts:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if len(enc["input_ids"]) < 2:
            raise ValueError(f"every text must encode to at least 2 tokens; {text[:40]!r} gives fewer")
        stats = token_stats(model, tokenizer, input_ids=torch.tensor([enc["input_ids"]]), entropy=False)
        out.append((float(stats.nll()[0]), len(text) - enc["offset_mapping"][0][1]))
    return out
