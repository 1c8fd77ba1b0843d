"""Token-level retrieval metrics of Jadon et al. (arXiv 2502.15854): recall, precision, IoU and Precision Omega
between the chunks a retriever returns and the reference spans of a question.

The paper takes the definitions of Smith & Troynikov ("Evaluating chunking strategies for retrieval", Chroma 2024).
With ``t_e`` the tokens of the reference spans (a question's evidence, possibly several discontinuous spans) and
``t_r`` the tokens of the retrieved chunks, both as sets of token positions of one document::

    recall    = |t_e & t_r| / |t_e|
    precision = |t_e & t_r| / |t_r|
    IoU       = |t_e & t_r| / |t_e | t_r|
    Precision Omega = precision when t_r is every chunk that holds at least one reference token

Precision Omega depends on the chunking only (the best precision any retriever reaching full recall can get), so
it is what the chunk-size sweep reads. Tokens are those of a tokenizer's ``offset_mapping`` over the document; a
token belongs to a span when their character ranges overlap.

Deviation: ``t_r`` is a set, so overlapping chunks count a token once (the Chroma code counts repeated tokens again
in the denominator of precision and IoU; with non-overlapping chunks, as built here, both agree).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

Span = tuple[int, int]  # a half-open character range [start, end) of a document


def _check_spans(spans: Sequence[Span], name: str) -> list[Span]:
    if isinstance(spans, (str, bytes)) or not isinstance(spans, Sequence):
        raise TypeError(f"{name} must be a sequence of (start, end) character ranges, got {type(spans).__name__}")
    out = []
    for span in spans:
        if not (isinstance(span, (tuple, list)) and len(span) == 2 and all(isinstance(v, int) for v in span)):
            raise TypeError(f"{name} must hold (start, end) int pairs, got {span!r}")
        start, end = span
        if not 0 <= start < end:
            raise ValueError(f"{name} holds an empty or negative range {span!r}; need 0 <= start < end")
        out.append((start, end))
    return out


def tokens_in_spans(offsets: Sequence[Span], spans: Sequence[Span]) -> set[int]:
    """Indices of the tokens (by character ``offsets``) that overlap any of ``spans``."""
    spans = _check_spans(spans, "spans")
    return {i for i, (a, b) in enumerate(offsets) if b > a and any(a < e and s < b for s, e in spans)}


@dataclass(frozen=True)
class TokenScores:
    """The token-level metrics of one question (all in [0, 1])."""

    recall: float
    precision: float
    iou: float

    def to_dict(self) -> dict[str, float]:
        return {"recall": self.recall, "precision": self.precision, "iou": self.iou}


def token_scores(reference: Iterable[Hashable], retrieved: Iterable[Hashable]) -> TokenScores:
    """Recall, precision and IoU between reference token positions ``t_e`` and retrieved token positions ``t_r``."""
    t_e, t_r = set(reference), set(retrieved)
    if not t_e:
        raise ValueError("the question has no reference span (no reference token); it cannot be scored")
    hit = len(t_e & t_r)
    return TokenScores(
        recall=hit / len(t_e), precision=hit / len(t_r) if t_r else 0.0, iou=hit / len(t_e | t_r) if t_r else 0.0
    )


def chunk_tokens(chunks: Sequence[Span], offsets: Sequence[Span]) -> list[set[int]]:
    """The token positions of each chunk (character ranges) of a document tokenized with ``offsets``."""
    return [tokens_in_spans(offsets, [c]) for c in _check_spans(chunks, "chunks")]


def precision_omega(reference: Iterable[int], chunks: Sequence[set[int]]) -> float:
    """Precision when every chunk that holds a reference token is retrieved (full recall): a property of the
    chunking alone."""
    t_e = set(reference)
    if not t_e:
        raise ValueError("the question has no reference span (no reference token); it cannot be scored")
    t_r: set[int] = set()
    for chunk in chunks:
        if chunk & t_e:
            t_r |= chunk
    return len(t_e & t_r) / len(t_r) if t_r else 0.0


def fixed_token_chunks(offsets: Sequence[Span], size: int, overlap: int = 0) -> list[Span]:
    """Character ranges of consecutive windows of ``size`` tokens (``overlap`` tokens shared between neighbours)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be an int >= 1 (tokens per chunk), got {size!r}")
    if not isinstance(overlap, int) or not 0 <= overlap < size:
        raise ValueError(f"overlap must be an int in [0, size), got {overlap!r}")
    real = [(a, b) for a, b in offsets if b > a]
    if not real:
        raise ValueError("the document has no tokens; empty documents cannot be chunked")
    out, step = [], size - overlap
    for start in range(0, len(real), step):
        window = real[start : start + size]
        out.append((window[0][0], window[-1][1]))
        if start + size >= len(real):
            break
    return out


def paragraph_chunks(text: str, max_chars: int = 1500) -> list[Span]:
    """Character ranges of the paragraphs of ``text`` (blank-line separated), long ones cut at ``max_chars``."""
    if not text.strip():
        raise ValueError("the document is empty; empty documents cannot be chunked")
    out, pos = [], 0
    for block in text.split("\n\n"):
        start, end = pos, pos + len(block)
        pos = end + 2
        while block[:1].isspace() and start < end:
            block, start = block[1:], start + 1
        block = block.rstrip()
        end = start + len(block)
        for s in range(start, end, max_chars):
            out.append((s, min(end, s + max_chars)))
    return out


def recall_at_k(ranked: Sequence[Hashable], relevant: set, k: int) -> float:
    """Fraction of the ``relevant`` items (chunks holding a reference token) among the first ``k`` of ``ranked``."""
    if not relevant:
        raise ValueError("relevant is empty: the question has no reference span in any chunk")
    return len(relevant & set(ranked[:k])) / len(relevant)


def ndcg_at_k(ranked: Sequence[Hashable], relevant: set, k: int = 10) -> float:
    """Binary-relevance nDCG@k: ``sum 1/log2(rank + 1)`` over relevant hits, over its value for a perfect ranking."""
    if not relevant:
        raise ValueError("relevant is empty: the question has no reference span in any chunk")
    dcg = sum(1 / math.log2(r + 2) for r, item in enumerate(ranked[:k]) if item in relevant)
    return dcg / sum(1 / math.log2(r + 2) for r in range(min(k, len(relevant))))
