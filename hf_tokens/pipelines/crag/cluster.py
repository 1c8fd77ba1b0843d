"""CRAG (Akesson and Santos, arXiv 2406.00029): cluster the retrieved passages by k-means on their sentence
embeddings, summarise each cluster with an LLM, and give the reader the summaries instead of the passages.

The number of clusters grows like ``ceil(sqrt(n))`` by default and each summary has a fixed token budget, so the
prompt grows sublinearly with the number of passages (the paper's finding: CRAG's token count barely rises from 4 to
75 reviews while RAG's rises about 9x).

Deviations from the paper: the paper clusters customer reviews and chooses k per product; here k is
``n_clusters`` or ``ceil(sqrt(n_passages))`` (capped at the number of distinct passages), k-means is seeded k-means++
with Lloyd iterations in plain torch on normalised MiniLM embeddings, and the summariser is a prompted small instruct
LLM (the paper prompts a large commercial model), summarising each cluster to ``summary_tokens`` tokens with the
budget enforced (:func:`hf_tokens.pipelines.tcra.compress.summarize_to_budget`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hf_tokens.pipelines.tcra.compress import count_tokens, summarize_to_budget
from hf_tokens.pipelines.xtr.index import check_documents, encode_mean_pooled


def kmeans(points: torch.Tensor, k: int, *, seed: int = 0, iters: int = 50) -> torch.Tensor:
    """Cluster labels ``[n]`` in ``0..k-1`` of k-means (k-means++ seeding from ``seed``, Lloyd iterations to a fixed
    point or ``iters``) on the rows of ``points``; every cluster is non-empty."""
    n = points.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] (the number of points), got {k}")
    gen = torch.Generator().manual_seed(seed)
    x = points.double()
    centers = [x[int(torch.randint(n, (1,), generator=gen))]]
    for _ in range(1, k):
        d2 = torch.cdist(x, torch.stack(centers)).min(dim=1).values ** 2
        if float(d2.sum()) <= 0:  # every point coincides with a centre: pick an unused one
            centers.append(x[len(centers)])
            continue
        centers.append(x[int(torch.multinomial(d2 / d2.sum(), 1, generator=gen))])
    c = torch.stack(centers)
    labels = torch.cdist(x, c).argmin(dim=1)
    for _ in range(iters):
        for j in range(k):
            members = labels == j
            if not members.any():  # re-seed an empty cluster with the point farthest from its centre
                far = int(torch.cdist(x, c).gather(1, labels[:, None]).squeeze(1).argmax())
                labels[far] = j
                members = labels == j
            c[j] = x[members].mean(dim=0)
        new = torch.cdist(x, c).argmin(dim=1)
        if torch.equal(new, labels):
            break
        labels = new
    # a final assignment may empty a cluster: relabel to the occupied clusters, in order of first appearance
    order = {int(v): i for i, v in enumerate(dict.fromkeys(labels.tolist()))}
    return torch.tensor([order[int(v)] for v in labels])


@dataclass
class CRAGResult:
    """The reader's context and how it was built."""

    context: str
    clusters: list[list[int]]
    summaries: list[str]
    original_tokens: int
    compressed_tokens: int


def crag_context(
    passages: Sequence[str],
    *,
    model: Any,
    tokenizer: Any,
    encoder: Any,
    encoder_tokenizer: Any,
    question: str | None = None,
    n_clusters: int | None = None,
    summary_tokens: int = 64,
    seed: int = 0,
) -> CRAGResult:
    """Cluster ``passages``, summarise each cluster in at most ``summary_tokens`` tokens of ``tokenizer`` and join
    the summaries (clusters in order of their first passage)."""
    passages = check_documents(passages)
    if isinstance(summary_tokens, bool) or not isinstance(summary_tokens, int) or summary_tokens < 1:
        raise ValueError(f"summary_tokens must be an int >= 1, got {summary_tokens!r}")
    distinct = len(set(passages))
    k = n_clusters if n_clusters is not None else math.ceil(math.sqrt(len(passages)))
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"n_clusters must be an int >= 1 or None (sqrt of the passage count), got {n_clusters!r}")
    k = min(k, distinct)
    emb = encode_mean_pooled(encoder, encoder_tokenizer, passages, max_length=512)
    labels = kmeans(emb, k, seed=seed).tolist()
    clusters = [[i for i, lab in enumerate(labels) if lab == j] for j in range(max(labels) + 1)]
    summaries = []
    for members in clusters:
        text = "\n\n".join(passages[i] for i in members)
        if count_tokens(tokenizer, text) <= summary_tokens:
            summaries.append(text.strip())  # already within the budget: nothing to summarise
        else:
            summaries.append(summarize_to_budget(model, tokenizer, text, summary_tokens, question=question))
    context = "\n\n".join(s for s in summaries if s)
    return CRAGResult(
        context=context,
        clusters=clusters,
        summaries=summaries,
        original_tokens=count_tokens(tokenizer, "\n\n".join(passages)),
        compressed_tokens=count_tokens(tokenizer, context),
    )
