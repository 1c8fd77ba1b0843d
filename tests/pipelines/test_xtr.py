"""XTR: scoring from retrieved tokens with the paper's imputation, the in-batch token retrieval loss, MaxSim."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hf_tokens.pipelines.xtr.index import BM25, TokenIndex, check_documents
from hf_tokens.pipelines.xtr.pipeline import XTRConfig
from hf_tokens.pipelines.xtr.scoring import maxsim_scores, xtr_aggregate, xtr_loss, xtr_training_scores


def test_imputation_matches_the_paper_formula():
    # two query tokens, k' = 3 retrieved tokens each (descending), owned by documents 0/1/2
    top_sims = torch.tensor([[0.9, 0.7, 0.4], [0.8, 0.6, 0.5]])
    top_docs = torch.tensor([[0, 1, 0], [2, 2, 1]])
    candidates, scores = xtr_aggregate(top_sims, top_docs, n_docs=5)
    assert candidates.tolist() == [0, 1, 2]
    # doc 0: q1 max(0.9, 0.4) = 0.9; q2 retrieved none of it -> m_2 = s_{2,k'} = 0.5
    # doc 1: q1 0.7; q2 0.5 (retrieved);  doc 2: q1 missing -> m_1 = 0.4; q2 max(0.8, 0.6) = 0.8
    torch.testing.assert_close(scores, torch.tensor([(0.9 + 0.5) / 2, (0.7 + 0.5) / 2, (0.4 + 0.8) / 2]))


def test_maxsim_hand_computed():
    sims = torch.tensor([[0.1, 0.5, 0.3, 0.2], [0.4, 0.0, 0.9, 0.1]])
    owner = torch.tensor([0, 0, 1, 1])
    torch.testing.assert_close(maxsim_scores(sims, owner, 2), torch.tensor([(0.5 + 0.4) / 2, (0.3 + 0.9) / 2]))


def test_training_scores_follow_the_definition():
    torch.manual_seed(0)
    q = F.normalize(torch.randn(2, 3, 8), dim=-1)
    d = F.normalize(torch.randn(2, 4, 8), dim=-1)
    q_mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    d_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    k = 3
    got = xtr_training_scores(q, q_mask, d, d_mask, k)
    want = torch.zeros(2, 2)
    for b in range(2):
        for c in range(2):
            total, z = 0.0, 0
            for i in range(3):
                if not q_mask[b, i]:
                    continue
                pool = [(float(q[b, i] @ d[e, j]), e, j) for e in range(2) for j in range(4) if d_mask[e, j]]
                top = sorted(pool, reverse=True)[:k]
                mine = [s for s, e, _ in top if e == c]
                if mine:
                    total += max(mine)  # max over the retrieved tokens of document c
                    z += 1
            want[b, c] = total / z if z else 0.0
    torch.testing.assert_close(got, want)
    # with k_train covering every token, f is ColBERT's MaxSim averaged over real query tokens
    full = xtr_training_scores(q, q_mask, d, d_mask, 100)
    sims = torch.einsum("bid,cjd->bicj", q, d).masked_fill(~d_mask.bool()[None, None], -9).amax(-1)
    torch.testing.assert_close(full, (sims * q_mask[..., None]).sum(1) / q_mask.sum(1, keepdim=True))


def test_loss_prefers_the_positive_and_has_gradients():
    torch.manual_seed(0)
    q = F.normalize(torch.randn(3, 4, 8), dim=-1).requires_grad_()
    d = q.detach().repeat(1, 2, 1) + 0.01 * torch.randn(3, 8, 8)  # doc b contains the tokens of query b
    d = F.normalize(d, dim=-1)
    ones_q, ones_d = torch.ones(3, 4), torch.ones(3, 8)
    loss = xtr_loss(q, ones_q, d, ones_d, k_train=4)
    assert loss < xtr_loss(q, ones_q, d.flip(0), ones_d, k_train=4)
    loss.backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="temperature"):
        xtr_loss(q, ones_q, d, ones_d, k_train=4, temperature=0)


def test_index_search_xtr_equals_maxsim_when_every_token_is_retrieved():
    torch.manual_seed(1)
    docs = [F.normalize(torch.randn(n, 16), dim=-1) for n in (5, 3, 7, 4)]
    index = TokenIndex(docs)
    q = F.normalize(torch.randn(6, 16), dim=-1)
    full = index.search_maxsim(q, top_k=4)
    xtr = index.search_xtr(q, k_prime=int(index.vectors.shape[0]), top_k=4)
    assert xtr.doc_ids == full.doc_ids
    torch.testing.assert_close(torch.tensor(xtr.scores), torch.tensor(full.scores))
    assert full.vectors_scored == 19
    reranked = index.search_maxsim(q, top_k=2, candidates=torch.tensor([2, 0]))
    assert reranked.vectors_scored == 12 and set(reranked.doc_ids) == {0, 2}


def test_bm25_and_bad_documents():
    bm25 = BM25(["the gzip module compresses files", "sockets and network ports", "json text"])
    scores = bm25.scores("compress files with gzip")
    assert scores.index(max(scores)) == 0
    for bad, exc in (([], ValueError), (["ok", " "], ValueError), ("text", TypeError), ([1], TypeError)):
        with pytest.raises(exc):
            check_documents(bad)
    with pytest.raises(ValueError, match="k_prime"):
        XTRConfig(k_prime=0)
    with pytest.raises(ValueError, match="scoring"):
        XTRConfig(scoring="dense")


def test_pipeline_on_the_real_minilm():
    from transformers import pipeline

    from hf_tokens.assets import load_encoder

    model, tokenizer = load_encoder("minilm-l6")
    docs = [
        "The gzip module compresses and decompresses files like the GNU gzip program.",
        "A server socket listens on a port and accepts network connections.",
        "The heapq module implements a priority queue on top of a plain list.",
    ]
    retriever = pipeline("token-retrieval", model=model, tokenizer=tokenizer, documents=docs)
    for scoring in ("xtr", "maxsim"):
        assert retriever("How can I compress a file?", scoring=scoring, top_k=1)[0]["index"] == 0
        assert retriever("Which module gives me a priority queue?", scoring=scoring, top_k=1)[0]["index"] == 2
    every = retriever("network connections on a port", k_prime=10_000, top_k=3)  # k' covers every token
    full = retriever("network connections on a port", scoring="maxsim", top_k=3)
    assert [r["index"] for r in every] == [r["index"] for r in full]
    assert [r["score"] for r in every] == pytest.approx([r["score"] for r in full])
    with pytest.raises(ValueError, match="empty"):
        pipeline("token-retrieval", model=model, tokenizer=tokenizer, documents=["ok", ""])


def test_training_lowers_the_loss_on_a_tiny_encoder():
    from transformers import BertConfig, BertModel

    from hf_tokens.assets import load_tokenizer
    from hf_tokens.pipelines.xtr.train import inverse_cloze_pairs, train_xtr

    tokenizer = load_tokenizer("minilm-l6")
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, intermediate_size=64))  # fmt: skip
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma"
    words = words.split()
    passages = [" ".join(words[(i * 3 + j) % len(words)] for j in range(30)) + f" item{i}" for i in range(8)]
    queries, positives = inverse_cloze_pairs(passages, words=6)
    log = train_xtr(model, tokenizer, queries, positives, XTRConfig(k_train=16), steps=30, batch_size=4, lr=1e-3)
    assert sum(log["losses"][-5:]) < sum(log["losses"][:5])
    with pytest.raises(ValueError, match="pair up"):
        train_xtr(model, tokenizer, queries, positives[:-1])
