"""The long-form generation metrics hyperfitting is judged by (arXiv 2412.04318): type-token ratio, repeated n-gram
rate, self-BLEU across prompts, mean predictive entropy. Pure functions over token ids (no tokenizer-specific
text processing), so every arm of a comparison is measured on the same units."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any


def ngrams(tokens: Sequence[int], n: int) -> Iterator[tuple[int, ...]]:
    """The ``n``-grams of ``tokens`` in order, as tuples (none when ``tokens`` is shorter than ``n``)."""
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def type_token_ratio(tokens: Sequence[int]) -> float:
    """Distinct tokens / tokens (1.0 = no token repeats)."""
    if not tokens:
        raise ValueError("tokens must not be empty")
    return len(set(tokens)) / len(tokens)


def repeated_ngram_rate(tokens: Sequence[int], n: int = 4) -> float:
    """Share of the sequence's ``n``-grams that already occurred earlier in it (0.0 = no repetition)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    grams = list(ngrams(tokens, n))
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def bleu(candidate: Sequence[int], references: Sequence[Sequence[int]], max_n: int = 4) -> float:
    """Sentence BLEU of ``candidate`` against ``references`` (clipped n-gram precisions up to ``max_n``, geometric
    mean with add-one smoothing for n > 1, brevity penalty against the closest reference length)."""
    if not candidate or not references:
        raise ValueError("candidate and references must not be empty")
    log_p = 0.0
    for n in range(1, max_n + 1):
        cand = Counter(ngrams(candidate, n))
        most: Counter = Counter()
        for ref in references:
            for gram, c in Counter(ngrams(ref, n)).items():
                most[gram] = max(most[gram], c)
        matched = sum(min(c, most[g]) for g, c in cand.items())
        total = max(sum(cand.values()), 0)
        if n == 1:
            if matched == 0:
                return 0.0
            log_p += math.log(matched / total)
        else:
            log_p += math.log((matched + 1) / (total + 1))
    closest = min((abs(len(r) - len(candidate)), len(r)) for r in references)[1]
    brevity = 1.0 if len(candidate) > closest else math.exp(1 - closest / len(candidate))
    return brevity * math.exp(log_p / max_n)


def self_bleu(sequences: Sequence[Sequence[int]], max_n: int = 4) -> float:
    """Mean BLEU of each sequence against all the others (lower = more diverse across prompts)."""
    if len(sequences) < 2:
        raise ValueError("self_bleu needs at least 2 sequences")
    scores = [bleu(s, [o for j, o in enumerate(sequences) if j != i], max_n) for i, s in enumerate(sequences)]
    return sum(scores) / len(scores)


def long_form_report(sequences: Sequence[Sequence[int]], entropies: Sequence[float], n: int = 4) -> dict[str, Any]:
    """Mean type-token ratio and repeated ``n``-gram rate over ``sequences``, their self-BLEU, and the mean of
    ``entropies`` (the model's mean predictive entropy per sequence, e.g. from
    :func:`hf_tokens.analysis.token_stats`)."""
    if len(sequences) != len(entropies):
        raise ValueError("one entropy per sequence is needed")
    return {
        "type_token_ratio": sum(type_token_ratio(s) for s in sequences) / len(sequences),
        f"repeated_{n}gram_rate": sum(repeated_ngram_rate(s, n) for s in sequences) / len(sequences),
        "self_bleu": self_bleu(sequences),
        "mean_entropy": sum(entropies) / len(entropies),
    }
