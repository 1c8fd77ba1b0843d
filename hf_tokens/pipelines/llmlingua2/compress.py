"""Word-level extractive compression from a token classifier's keep probabilities (LLMLingua-2, Pan et al.,
arXiv 2403.12968): split the text into whitespace words, score each word by the classifier's probability of the
"keep" label on its FIRST subword, keep exactly ``round(rate * n_words)`` words (forced words first, then the most
probable), and join the kept words in their original order, so the output is a subsequence of the input's words.

Inputs longer than the encoder's window are cut at word boundaries into chunks of at most ``max_length`` tokens
(special tokens included), each chunk scored on its own, and the chunks' word scores merged before the global
selection (the paper chunks as well, but selects per chunk; a global selection makes the requested rate exact).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch

KEEP_LABEL = 1
_WORD = re.compile(r"\S+")


def split_words(text: str) -> list[str]:
    """The whitespace-separated words of ``text`` (the unit of selection)."""
    return _WORD.findall(text)


def check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise ValueError(f"rate must be a number in (0, 1] (fraction of words kept), got {rate!r}")
    return float(rate)


def word_chunks(tokenizer: Any, words: Sequence[str], max_length: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` word ranges whose tokenisation fits ``max_length`` tokens with special tokens.

    A single word longer than the window gets a chunk of its own (it is truncated there; its score comes from its
    first subword, which survives truncation)."""
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 1:
        raise ValueError(f"max_length={max_length} leaves no room for words after the special tokens")
    ids = tokenizer(list(words), add_special_tokens=False)["input_ids"]
    chunks, start, used = [], 0, 0
    for i, word_ids in enumerate(ids):
        n = max(1, len(word_ids))
        if used and used + n > budget:
            chunks.append((start, i))
            start, used = i, 0
        used += n
    chunks.append((start, len(words)))
    return chunks


@torch.no_grad()
def keep_probabilities(model: Any, tokenizer: Any, words: Sequence[str], max_length: int = 512) -> torch.Tensor:
    """Probability of the keep label for each word (first subword), chunked over ``max_length``-token windows."""
    probs = torch.zeros(len(words))
    for start, end in word_chunks(tokenizer, words, max_length):
        enc = tokenizer(
            list(words[start:end]),
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        word_ids = enc.word_ids(0)
        logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[0]
        p = logits.float().softmax(-1)[:, KEEP_LABEL]
        seen: set[int] = set()
        for pos, w in enumerate(word_ids):
            if w is not None and w not in seen:
                seen.add(w)
                probs[start + w] = p[pos]
    return probs


def is_forced(word: str, force_tokens: Sequence[str]) -> bool:
    """A word is forced when any force token occurs in it (so "?" keeps "file?")."""
    return any(tok in word for tok in force_tokens)


def select_words(probs: torch.Tensor, n_keep: int, forced: Sequence[bool]) -> list[int]:
    """Indices (ascending) of the kept words: every forced word, then the most probable others (ties: earlier first)
    until ``n_keep`` words are kept. More than ``n_keep`` forced words are all kept."""
    n = probs.numel()
    chosen = [i for i in range(n) if forced[i]]
    rest = [i for i in range(n) if not forced[i]]
    rest.sort(key=lambda i: (-float(probs[i]), i))
    chosen += rest[: max(0, n_keep - len(chosen))]
    return sorted(chosen)


def compress_words(
    words: Sequence[str], probs: torch.Tensor, rate: float, force_tokens: Sequence[str] = ()
) -> dict[str, Any]:
    """The compression result of ``words`` at ``rate`` given their keep probabilities."""
    n_keep = max(1, round(rate * len(words)))
    forced = [is_forced(w, force_tokens) for w in words]
    kept = select_words(probs, n_keep, forced)
    return {
        "compressed_prompt": " ".join(words[i] for i in kept),
        "kept_indices": kept,
        "n_words": len(words),
        "n_kept": len(kept),
        "rate": len(kept) / len(words),
    }
