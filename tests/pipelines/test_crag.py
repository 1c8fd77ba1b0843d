"""CRAG: deterministic k-means, each passage in exactly one cluster, the prompt grows sublinearly with the number
of passages, bad input is refused."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.pipelines.crag.cluster import crag_context, kmeans
from hf_tokens.pipelines.crag.pipeline import PASSAGES, CRAGConfig
from hf_tokens.pipelines.tcra.compress import count_tokens
from hf_tokens.pipelines.tcra.pipeline import tiny_models


@pytest.fixture(scope="module")
def tiny():
    return tiny_models()


def blobs(n_per: int, centers: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    means = torch.eye(centers, 8) * 10
    truth = torch.arange(centers).repeat_interleave(n_per)
    return means[truth] + 0.1 * torch.randn(len(truth), 8, generator=gen), truth


def test_kmeans_recovers_separated_blobs_and_is_deterministic():
    x, truth = blobs(6, 3)
    labels = kmeans(x, 3, seed=0)
    for j in range(3):  # same partition as the truth, up to renaming
        assert len(set(labels[truth == j].tolist())) == 1
    assert len(set(labels.tolist())) == 3
    assert torch.equal(labels, kmeans(x, 3, seed=0))
    for seed in (1, 2):  # well-separated blobs: any seed gives the same partition
        other = kmeans(x, 3, seed=seed)
        assert all(len(set(other[truth == j].tolist())) == 1 for j in range(3))


def test_kmeans_edge_cases():
    x, _ = blobs(2, 2)
    assert kmeans(x, 1).tolist() == [0] * 4
    assert sorted(kmeans(x, 4).tolist()) == [0, 1, 2, 3]
    same = torch.ones(5, 3)
    assert set(kmeans(same, 2).tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="k must be"):
        kmeans(x, 0)
    with pytest.raises(ValueError, match="k must be"):
        kmeans(x, 5)


def test_every_passage_in_exactly_one_cluster_and_deterministic(tiny):
    r = crag_context(PASSAGES, n_clusters=2, summary_tokens=6, **tiny)
    flat = sorted(i for c in r.clusters for i in c)
    assert flat == list(range(len(PASSAGES)))
    assert len(r.clusters) == 2 and len(r.summaries) == 2
    assert all(count_tokens(tiny["tokenizer"], s) <= 6 for s in r.summaries)
    again = crag_context(PASSAGES, n_clusters=2, summary_tokens=6, **tiny)
    assert again == r


def test_token_count_grows_sublinearly_with_passages(tiny):
    base = [f"Passage {i}: the module number {i} handles files, sockets and text in its own way." for i in range(36)]
    counts = {}
    for n in (4, 16, 36):
        r = crag_context(base[:n], summary_tokens=8, **tiny)
        assert len(r.clusters) == {4: 2, 16: 4, 36: 6}[n]
        counts[n] = (r.original_tokens, r.compressed_tokens)
    assert counts[36][0] > 8 * counts[4][0]  # the plain context grows linearly ...
    assert counts[36][1] <= 3 * counts[4][1] + 4  # ... CRAG's with the number of clusters (sqrt)
    assert all(c <= o for o, c in counts.values())


def test_short_clusters_are_kept_verbatim(tiny):
    r = crag_context(["a b c", "d e f"], n_clusters=2, summary_tokens=50, **tiny)
    assert sorted(r.summaries) == ["a b c", "d e f"]


def test_bad_input(tiny):
    for bad in ([], ["ok", " "], "one string"):
        with pytest.raises((ValueError, TypeError)):
            crag_context(bad, **tiny)
    with pytest.raises(ValueError, match="summary_tokens"):
        crag_context(PASSAGES, summary_tokens=0, **tiny)
    with pytest.raises(ValueError, match="n_clusters"):
        CRAGConfig(n_clusters=0)
    with pytest.raises(ValueError, match="encoder"):
        from transformers import pipeline

        pipeline("clustered-rag", model=tiny["model"], tokenizer=tiny["tokenizer"])
