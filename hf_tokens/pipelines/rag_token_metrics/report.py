"""Token-level evaluation of a retriever's chunks against the reference spans of synthetic questions: the report
of ``rag-token-metrics`` (Jadon et al., arXiv 2502.15854).

    report = evaluate_retrieval(documents, pairs, chunks, retrieved, offsets=hf_offsets(tokenizer))
    report.recall, report.precision, report.iou, report.precision_omega   # means over questions

``chunks`` maps each document id to its chunking (character ranges); ``retrieved[q]`` lists the ``(doc_id,
chunk_index)`` a retriever returned for question ``q``. Tokens are ``(doc_id, position)`` pairs, so a chunk of
another document adds to ``t_r`` without ever matching the reference.
"""

from __future__ import annotations

import random
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hf_tokens.pipelines.rag_token_metrics.metrics import (
    Span,
    chunk_tokens,
    fixed_token_chunks,
    precision_omega,
    token_scores,
    tokens_in_spans,
)
from hf_tokens.pipelines.rag_token_metrics.synth import QAPair

Offsets = Callable[[str], list[Span]]
_WORD = re.compile(r"\S+")


def whitespace_offsets(text: str) -> list[Span]:
    """Character ranges of the whitespace-separated words of ``text`` (a tokenizer-free default)."""
    return [m.span() for m in _WORD.finditer(text)]


def hf_offsets(tokenizer: Any) -> Offsets:
    """Character ranges of a fast Hugging Face tokenizer's tokens (no special tokens)."""

    def offsets(text: str) -> list[Span]:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(a), int(b)) for a, b in enc["offset_mapping"]]

    return offsets


@dataclass
class RagTokenReport:
    """Means over questions of the token-level metrics, and each question's values."""

    n_questions: int
    recall: float
    precision: float
    iou: float
    precision_omega: float
    per_question: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_questions": self.n_questions,
            "recall": self.recall,
            "precision": self.precision,
            "iou": self.iou,
            "precision_omega": self.precision_omega,
            "per_question": [dict(q) for q in self.per_question],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RagTokenReport:
        return cls(**{**data, "per_question": [dict(q) for q in data.get("per_question", [])]})


def evaluate_retrieval(
    documents: Mapping[str, str],
    pairs: Sequence[QAPair],
    chunks: Mapping[str, Sequence[Span]],
    retrieved: Sequence[Sequence[tuple[str, int]]],
    *,
    offsets: Offsets = whitespace_offsets,
) -> RagTokenReport:
    """The token metrics of ``retrieved`` chunks for each of ``pairs`` (see the module docstring)."""
    if not pairs:
        raise ValueError("pairs is empty; give at least one question with reference spans")
    if len(retrieved) != len(pairs):
        raise ValueError(f"retrieved has {len(retrieved)} entries for {len(pairs)} pairs; give one list per pair")
    tok_offsets: dict[str, list[Span]] = {}
    tok_chunks: dict[str, list[set[int]]] = {}

    def doc_chunks(doc_id: str) -> list[set[int]]:
        if doc_id not in tok_chunks:
            if doc_id not in documents or doc_id not in chunks:
                raise ValueError(f"document {doc_id!r} is not in documents and chunks")
            if not documents[doc_id].strip():
                raise ValueError(f"document {doc_id!r} is empty")
            tok_offsets[doc_id] = offsets(documents[doc_id])
            tok_chunks[doc_id] = chunk_tokens(chunks[doc_id], tok_offsets[doc_id])
        return tok_chunks[doc_id]

    rows = []
    for pair, hits in zip(pairs, retrieved):
        if not pair.spans:
            raise ValueError(f"question {pair.question!r} has no reference span")
        own = doc_chunks(pair.doc_id)
        reference = tokens_in_spans(tok_offsets[pair.doc_id], pair.spans)
        if not reference:
            raise ValueError(f"question {pair.question!r}: its reference spans cover no token of {pair.doc_id!r}")
        t_r: set[tuple[str, int]] = set()
        for doc_id, index in hits:
            t_r |= {(doc_id, t) for t in doc_chunks(doc_id)[index]}
        scores = token_scores({(pair.doc_id, t) for t in reference}, t_r)
        rows.append({**scores.to_dict(), "precision_omega": precision_omega(reference, own)})
    mean = {k: statistics.fmean(r[k] for r in rows) for k in ("recall", "precision", "iou", "precision_omega")}
    return RagTokenReport(n_questions=len(rows), per_question=rows, **mean)


def make_report(seed: int) -> RagTokenReport:
    """A seeded small case for the analysis contract: random documents, spans, chunking and a noisy retriever."""
    rng = random.Random(seed)
    words = ["token", "chunk", "span", "index", "query", "vector", "cache", "model", "layer", "score"]
    documents = {f"d{i}": " ".join(rng.choice(words) for _ in range(rng.randint(30, 60))) for i in range(4)}
    chunks = {k: fixed_token_chunks(whitespace_offsets(v), rng.choice([4, 8, 16])) for k, v in documents.items()}
    pairs, retrieved = [], []
    for i in range(6):
        doc_id = f"d{rng.randrange(4)}"
        words_at = whitespace_offsets(documents[doc_id])
        a = rng.randrange(len(words_at) - 5)
        pairs.append(QAPair(doc_id, f"question {i}?", "answer", [(words_at[a][0], words_at[a + 4][1])]))
        retrieved.append([(k, rng.randrange(len(chunks[k]))) for k in rng.sample(sorted(documents), 2)])
    return evaluate_retrieval(documents, pairs, chunks, retrieved)


def contract() -> dict[str, Any]:
    """The analysis contract (tests/suites/README.md)."""
    return {"make_report": make_report}
