"""Citation blocking for hyperfitted models (arXiv 2412.04318, its check that hyperfitted models do not just recite
their small training set): a ``LogitsProcessor`` that forbids any token completing an ``n``-gram of the training
sequences, and the share of a generation's ``n``-grams copied from them.

Deviation: the paper describes the blocker only as forbidding the repetition of longer training subsequences; the
length is ``n`` here (default 6 tokens), a parameter. transformers' ``no_repeat_ngram_size`` blocks repeats of the
generation's own n-grams, not of an external corpus; ``bad_words_ids`` would need every training n-gram as a
separate banned sequence, checked one by one at each step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LogitsProcessor

from hf_tokens.trainers.hyperfitting.metrics import ngrams


def _token_lists(sequences: Sequence[Sequence[int]], n: object) -> list[list[int]]:
    """``sequences`` as lists of int token ids (tensors converted), after checking them and ``n``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int >= 2 (a blocked n-gram needs a prefix), got {n!r}")
    if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Sequence) or not sequences:
        raise TypeError("training_sequences must be a non-empty list of token-id lists")
    lists = []
    for seq in sequences:
        if isinstance(seq, torch.Tensor):
            seq = seq.tolist()
        if not isinstance(seq, Sequence) or not all(isinstance(t, int) and not isinstance(t, bool) for t in seq):
            raise TypeError("training_sequences must hold lists of int token ids")
        lists.append(list(seq))
    return lists


class TrainingNgramBlocker(LogitsProcessor):
    """Sets to ``-inf`` the score of every token that would complete an ``n``-gram found in ``training_sequences``
    (each row of the batch on its own, its last ``n - 1`` tokens as the prefix; prompt tokens count, so a copy that
    starts in the prompt is blocked too). Pass it in ``logits_processor=[...]`` to ``generate``."""

    def __init__(self, training_sequences: Sequence[Sequence[int]], n: int = 6) -> None:
        self.next_tokens: dict[tuple[int, ...], set[int]] = {}
        for seq in _token_lists(training_sequences, n):
            for gram in ngrams(seq, n):
                self.next_tokens.setdefault(gram[:-1], set()).add(gram[-1])
        self.n = n

    def copied_rate(self, sequence: Sequence[int]) -> float:
        """Share of ``sequence``'s ``n``-grams that occur in the training sequences (0.0 = nothing recited; a
        sequence shorter than ``n`` has none)."""
        grams = list(ngrams(list(sequence), self.n))
        return sum(g[-1] in self.next_tokens.get(g[:-1], ()) for g in grams) / len(grams) if grams else 0.0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] < self.n - 1:
            return scores
        prefixes = input_ids[:, input_ids.shape[1] - (self.n - 1) :].tolist()
        for row, prefix in enumerate(prefixes):
            banned = self.next_tokens.get(tuple(prefix))
            if banned:
                scores[row, sorted(banned)] = float("-inf")
        return scores


def copied_ngram_rate(sequence: Sequence[int], training_sequences: Sequence[Sequence[int]], n: int = 6) -> float:
    """Share of ``sequence``'s ``n``-grams that occur in ``training_sequences`` (see
    :meth:`TrainingNgramBlocker.copied_rate`; build the blocker once to score many sequences)."""
    return TrainingNgramBlocker(training_sequences, n).copied_rate(sequence)
