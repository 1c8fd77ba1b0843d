"""A flat token index over documents (plain torch, brute-force inner products) searched the XTR way or the ColBERT
way, and the encoders of the baselines (single-vector mean pooling, BM25)."""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from hf_tokens.pipelines.xtr.scoring import maxsim_scores, xtr_aggregate


def check_documents(documents: Any) -> list[str]:
    """``documents`` as a non-empty list of non-empty texts, else a ``ValueError``/``TypeError`` saying why."""
    if isinstance(documents, str) or not isinstance(documents, Sequence):
        raise TypeError(f"documents must be a list of str, got {type(documents).__name__}")
    if not documents:
        raise ValueError("documents is empty; give at least one document to index")
    for i, doc in enumerate(documents):
        if not isinstance(doc, str):
            raise TypeError(f"documents[{i}] must be a str, got {type(doc).__name__}")
        if not doc.strip():
            raise ValueError(f"documents[{i}] is empty; every document needs text")
    return list(documents)


def token_embeddings(model: Any, enc: dict[str, torch.Tensor]) -> torch.Tensor:
    """L2-normalised last hidden states ``[B, L, D]`` of an encoder."""
    out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    return F.normalize(out.last_hidden_state.float(), dim=-1)


def content_mask(tokenizer: Any, enc: dict[str, torch.Tensor]) -> torch.Tensor:
    """1 on the real, non-special tokens of a batch ([CLS]/[SEP]/padding are not indexed or scored)."""
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    return enc["attention_mask"].bool() & ~torch.isin(enc["input_ids"], special)


@torch.no_grad()
def encode_token_vectors(
    model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int = 256, batch_size: int = 16
) -> list[torch.Tensor]:
    """One ``[n_tokens, D]`` matrix of normalised token vectors per text (special tokens and padding dropped)."""
    out: list[torch.Tensor] = []
    for start in range(0, len(texts), batch_size):
        batch = list(texts[start : start + batch_size])
        enc = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        emb, mask = token_embeddings(model, enc), content_mask(tokenizer, enc)
        out += [e[m] for e, m in zip(emb, mask)]
    return out


@torch.no_grad()
def encode_mean_pooled(
    model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int = 256, batch_size: int = 16
) -> torch.Tensor:
    """Single-vector baseline: the normalised mean of the token states over the attention mask (the way the MiniLM
    sentence encoder was trained), ``[len(texts), D]``."""
    rows = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(
            list(texts[start : start + batch_size]),
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        hidden = model(**enc).last_hidden_state.float()
        mask = enc["attention_mask"][..., None].float()
        rows.append(F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1))
    return torch.cat(rows)


@dataclass
class SearchResult:
    """Ranked document ids and scores of one query, and what the scoring stage cost."""

    doc_ids: list[int]
    scores: list[float]
    vectors_scored: int
    scoring_seconds: float
    search_seconds: float = 0.0


class TokenIndex:
    """Every token vector of a collection in one ``[N, D]`` matrix, with the document of each."""

    def __init__(self, per_doc: Sequence[torch.Tensor]) -> None:
        if not per_doc:
            raise ValueError("documents is empty; give at least one document to index")
        if any(v.shape[0] == 0 for v in per_doc):
            raise ValueError("a document has no token after tokenization; every document needs text")
        self.vectors = torch.cat(list(per_doc))
        self.lengths = torch.tensor([v.shape[0] for v in per_doc])
        self.owner = torch.repeat_interleave(torch.arange(len(per_doc)), self.lengths)
        self.n_docs = len(per_doc)

    @classmethod
    def build(cls, model: Any, tokenizer: Any, documents: Sequence[str], **kwargs: Any) -> TokenIndex:
        return cls(encode_token_vectors(model, tokenizer, check_documents(documents), **kwargs))

    def search_xtr(self, q: torch.Tensor, *, k_prime: int, top_k: int) -> SearchResult:
        """Top-``k'`` token retrieval per query token, then :func:`xtr_aggregate` (retrieved tokens only)."""
        start = time.perf_counter()
        sims = q @ self.vectors.T
        k = min(k_prime, sims.shape[1])
        top = sims.topk(k, dim=1)
        t0 = time.perf_counter()
        candidates, scores = xtr_aggregate(top.values, self.owner[top.indices], self.n_docs)
        best = scores.topk(min(top_k, scores.numel()))
        seconds = time.perf_counter() - t0
        ids = candidates[best.indices].tolist()
        return SearchResult(ids, best.values.tolist(), 0, seconds, time.perf_counter() - start)

    def search_maxsim(self, q: torch.Tensor, *, top_k: int, candidates: torch.Tensor | None = None) -> SearchResult:
        """ColBERT MaxSim over every token of every document (or of ``candidates`` only: ColBERT's gather-and-score
        stage after candidate generation); ``vectors_scored`` counts the document vectors it reads."""
        t0 = time.perf_counter()
        if candidates is None:
            scores, ids = maxsim_scores(q @ self.vectors.T, self.owner, self.n_docs), torch.arange(self.n_docs)
            touched = int(self.vectors.shape[0])
        else:
            keep = torch.isin(self.owner, candidates)
            _, owner = torch.unique(self.owner[keep], return_inverse=True)
            scores = maxsim_scores(q @ self.vectors[keep].T, owner, candidates.numel())
            ids, touched = candidates.sort().values, int(keep.sum())
        best = scores.topk(min(top_k, scores.numel()))
        seconds = time.perf_counter() - t0
        return SearchResult(ids[best.indices].tolist(), best.values.tolist(), touched, seconds, seconds)


_TOKEN = re.compile(r"\w+")


class BM25:
    """Okapi BM25 (k1 = 1.2, b = 0.75) over lower-cased word tokens: the lexical baseline."""

    def __init__(self, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        docs = [Counter(_TOKEN.findall(d.lower())) for d in check_documents(documents)]
        self.docs, self.k1, self.b = docs, k1, b
        self.lengths = [sum(c.values()) for c in docs]
        self.avg = sum(self.lengths) / len(docs)
        df = Counter(t for c in docs for t in c)
        n = len(docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> list[float]:
        terms = _TOKEN.findall(query.lower())
        out = []
        for counts, length in zip(self.docs, self.lengths):
            norm = self.k1 * (1 - self.b + self.b * length / self.avg)
            out.append(sum(self.idf.get(t, 0.0) * counts[t] * (self.k1 + 1) / (counts[t] + norm) for t in terms))
        return out
