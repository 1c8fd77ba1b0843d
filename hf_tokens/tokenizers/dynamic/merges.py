"""Batch-level BPE (Feher et al., "Retrofitting (Large) Language Models with Dynamic Tokenization", arXiv:2411.18553).

The batch is first tokenised by the model's original tokenizer; every word (a piece of the tokenizer's own
pre-tokenizer, so merges never cross a word boundary) is a sequence of units, each unit a tuple of original ids.
Then, as in BPE training but over this one batch, the most frequent adjacent pair of units (counted over all words
of the batch) is merged into a new unit, repeatedly, until the merge budget is spent, the target length reduction is
reached, or no pair is left. Every unit of two or more original tokens becomes a dynamic token with an id
``>= base_vocab_size``; its decomposition (original ids) is what an embedding predictor sees.

Deviations from the paper: ties between equally frequent pairs are broken by first occurrence in the batch (the paper
does not specify); pairs occurring once are merged as well unless ``min_frequency`` says otherwise.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hf_tokens.tokenizers.dynamic.config import DynamicTokenizationConfig

Unit = tuple[int, ...]


@dataclass
class DynamicBatch:
    """A batch in dynamic tokens. Ids ``< base_vocab_size`` are original tokens; ``base_vocab_size + j`` is the
    ``j``-th entry of :attr:`decompositions` (its original ids)."""

    sequences: list[list[int]]
    decompositions: list[Unit]
    base_vocab_size: int
    original: list[list[int]]
    merges: list[tuple[Unit, Unit]] = field(default_factory=list)

    def expand(self, sequence: list[int]) -> list[int]:
        """The original ids behind one dynamic sequence."""
        out: list[int] = []
        for token in sequence:
            if token < self.base_vocab_size:
                out.append(token)
            else:
                out.extend(self.decompositions[token - self.base_vocab_size])
        return out

    def decode(self, tokenizer: Any, index: int) -> str:
        """Text of sequence ``index`` (decoded through its original ids)."""
        return tokenizer.decode(self.expand(self.sequences[index]))

    @property
    def original_length(self) -> int:
        return sum(len(s) for s in self.original)

    @property
    def dynamic_length(self) -> int:
        return sum(len(s) for s in self.sequences)

    @property
    def length_reduction(self) -> float:
        """Fraction of tokens saved over the whole batch (0 when nothing was merged)."""
        total = self.original_length
        return 0.0 if total == 0 else 1.0 - self.dynamic_length / total


def word_ids(tokenizer: Any, text: str) -> tuple[list[int], list[int]]:
    """Original ids of ``text`` and, for each, the index of the pre-tokenizer word it belongs to (special and added
    tokens get a negative index of their own)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TypeError(
            "tokenizer must be a fast (Rust-backed) tokenizer: word boundaries come from its pre-tokenizer"
        )
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
    normalizer = backend.normalizer
    norm = normalizer.normalize_str(text) if normalizer is not None else text
    if backend.pre_tokenizer is None or len(norm) != len(text):
        # no pre-tokenizer, or a normaliser that moves offsets: fall back to whitespace-separated words
        starts = [i for i, ch in enumerate(text) if not ch.isspace() and (i == 0 or text[i - 1].isspace())]
    else:
        starts = [start for _, (start, _end) in backend.pre_tokenizer.pre_tokenize_str(norm)]
    words = [max(bisect.bisect_right(starts, start) - 1, 0) for start, _ in offsets]
    added = set(getattr(tokenizer, "all_special_ids", [])) | set(getattr(tokenizer, "added_tokens_decoder", {}))
    # special / added tokens (chat markers) are never merged: each is a word of its own
    return ids, [-(i + 1) if token in added else wid for i, (token, wid) in enumerate(zip(ids, words, strict=True))]


def _words(ids: list[int], wids: list[int]) -> list[list[Unit]]:
    words: list[list[Unit]] = []
    previous = None
    for token, wid in zip(ids, wids, strict=True):
        if wid != previous or not words:
            words.append([])
            previous = wid
        words[-1].append((token,))
    return words


def _merge_word(word: tuple[Unit, ...], pair: tuple[Unit, Unit]) -> tuple[Unit, ...]:
    out: list[Unit] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def batch_bpe(
    tokenizer: Any,
    texts: list[str],
    *,
    merges: int | None = None,
    target_reduction: float | None = None,
    min_frequency: int = 1,
) -> DynamicBatch:
    """Tokenise ``texts`` with ``tokenizer`` and apply batch-level BPE merges (see the module docstring).

    ``merges``: the merge budget (``None`` = unlimited); ``target_reduction``: stop once the batch is this fraction
    shorter (in ``(0, 1)``); both validated by :class:`DynamicTokenizationConfig`.
    """
    if not isinstance(texts, list | tuple) or not texts:
        raise ValueError("texts must be a non-empty list of strings")
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must contain only strings")
    config = DynamicTokenizationConfig(merges, target_reduction, min_frequency)

    per_text = [word_ids(tokenizer, text) for text in texts]
    original = [ids for ids, _ in per_text]
    docs = [[tuple(w) for w in _words(ids, wids)] for ids, wids in per_text]
    freq: Counter[tuple[Unit, ...]] = Counter(word for doc in docs for word in doc)
    total = sum(len(ids) for ids in original)
    length = total
    applied: list[tuple[Unit, Unit]] = []
    while config.merges is None or len(applied) < config.merges:
        if config.target_reduction is not None and length <= (1.0 - config.target_reduction) * total:
            break
        pairs: Counter[tuple[Unit, Unit]] = Counter()
        for word, n in freq.items():  # dict order = first occurrence, so ties go to the earliest pair
            for a, b in itertools.pairwise(word):
                pairs[(a, b)] += n
        if not pairs:
            break
        pair, count = max(pairs.items(), key=lambda kv: kv[1])
        if count < config.min_frequency:
            break
        new: Counter[tuple[Unit, ...]] = Counter()
        for word, n in freq.items():
            new[_merge_word(word, pair)] += n
        freq = new
        length -= count
        applied.append(pair)

    cache: dict[tuple[Unit, ...], tuple[Unit, ...]] = {}
    index: dict[Unit, int] = {}
    decompositions: list[Unit] = []
    base = len(tokenizer)
    sequences: list[list[int]] = []
    for doc in docs:
        seq: list[int] = []
        for word in doc:
            if word not in cache:
                merged = word
                for pair in applied:
                    merged = _merge_word(merged, pair)
                cache[word] = merged
            for unit in cache[word]:
                if len(unit) == 1:
                    seq.append(unit[0])
                    continue
                if unit not in index:
                    index[unit] = base + len(decompositions)
                    decompositions.append(unit)
                seq.append(index[unit])
        sequences.append(seq)
    return DynamicBatch(sequences, decompositions, base, original, applied)
