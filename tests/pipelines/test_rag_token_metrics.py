"""rag-token-metrics: the token metrics equal hand-computed values; exact span matching validates generated pairs."""

from __future__ import annotations

import math

import pytest

from hf_tokens.pipelines.rag_token_metrics.metrics import (
    chunk_tokens,
    fixed_token_chunks,
    ndcg_at_k,
    paragraph_chunks,
    precision_omega,
    recall_at_k,
    token_scores,
    tokens_in_spans,
)
from hf_tokens.pipelines.rag_token_metrics.report import evaluate_retrieval, whitespace_offsets
from hf_tokens.pipelines.rag_token_metrics.synth import QAPair, find_span, parse_reply, validate_pair

# ten one-letter words: word i occupies characters [2i, 2i + 1)
DOC = "a b c d e f g h i j"


def test_token_scores_hand_computed():
    # reference tokens {2, 3, 4, 5}; retrieved {4, 5, 6}: hit 2, union 5
    s = token_scores({2, 3, 4, 5}, {4, 5, 6})
    assert (s.recall, s.precision, s.iou) == (2 / 4, 2 / 3, 2 / 5)
    assert token_scores({1}, set()).to_dict() == {"recall": 0.0, "precision": 0.0, "iou": 0.0}
    with pytest.raises(ValueError, match="no reference span"):
        token_scores(set(), {1})


def test_precision_omega_hand_computed():
    offsets = whitespace_offsets(DOC)
    chunks = chunk_tokens(fixed_token_chunks(offsets, 3), offsets)  # {0,1,2} {3,4,5} {6,7,8} {9}
    assert chunks == [{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9}]
    # discontinuous reference: words c (2) and g, h (6, 7) -> chunks 0 and 2 -> 3 of 6 tokens
    reference = tokens_in_spans(offsets, [(4, 5), (12, 15)])
    assert reference == {2, 6, 7}
    assert precision_omega(reference, chunks) == 3 / 6
    # smaller chunks raise Precision Omega (the paper's finding)
    small = chunk_tokens(fixed_token_chunks(offsets, 1), offsets)
    assert precision_omega(reference, small) == 1.0


def test_evaluate_retrieval_hand_computed():
    docs = {"x": DOC, "y": "k l m n"}
    chunks = {
        "x": fixed_token_chunks(whitespace_offsets(DOC), 3),
        "y": fixed_token_chunks(whitespace_offsets("k l m n"), 2),
    }
    pair = QAPair("x", "which letters?", "c", [(4, 9)])  # words c, d, e = tokens {2, 3, 4}
    # retrieve chunk 1 of x ({3,4,5}) and chunk 0 of y (2 tokens of another document)
    report = evaluate_retrieval(docs, [pair], chunks, [[("x", 1), ("y", 0)]])
    assert report.recall == 2 / 3
    assert report.precision == 2 / 5
    assert report.iou == 2 / 6
    assert report.precision_omega == 3 / 6  # chunks 0 and 1 hold the reference
    assert report.to_dict()["per_question"][0]["iou"] == 2 / 6


def test_bad_input_is_refused():
    docs = {"x": DOC}
    chunks = {"x": fixed_token_chunks(whitespace_offsets(DOC), 3)}
    with pytest.raises(ValueError, match="no reference span"):
        evaluate_retrieval(docs, [QAPair("x", "q?", "a", [])], chunks, [[("x", 0)]])
    with pytest.raises(ValueError, match="no reference span"):
        QAPair.from_dict({"doc_id": "x", "question": "q?", "answer": "a", "spans": []})
    with pytest.raises(ValueError, match="empty"):
        fixed_token_chunks([], 4)
    with pytest.raises(ValueError, match="empty"):
        paragraph_chunks("  \n ")
    with pytest.raises(ValueError, match="size"):
        fixed_token_chunks(whitespace_offsets(DOC), 0)
    with pytest.raises(ValueError, match="empty"):
        evaluate_retrieval({"x": " "}, [QAPair("x", "q?", "a", [(0, 1)])], {"x": [(0, 1)]}, [[]])
    with pytest.raises(ValueError, match="empty or negative"):
        tokens_in_spans([(0, 1)], [(3, 3)])


def test_paragraph_chunks_cover_paragraphs():
    text = "one two\nthree\n\n  four five\n\nsix"
    assert [text[a:b] for a, b in paragraph_chunks(text)] == ["one two\nthree", "four five", "six"]


def test_exact_span_matching_validates_pairs():
    doc = "The cache keeps the most recent\ntokens in memory.\n\nOther text follows here for a while."
    assert find_span(doc, "keeps the most recent tokens in memory") == (10, 48)
    reply = (
        "Question: What does the cache keep in memory?\n"
        "Evidence: The cache keeps the most recent tokens ... Other text follows here\nAnswer: recent tokens"
    )
    pair = validate_pair("d", doc, reply)
    assert isinstance(pair, QAPair)
    assert pair.spans == [(0, 38), (51, 74)]  # discontinuous, in document order
    assert doc[51:74] == "Other text follows here"
    assert validate_pair("d", doc, reply.replace("most recent", "latest")) == "no-exact-match"
    assert validate_pair("d", doc, "The answer is the cache.") == "format"
    assert validate_pair("d", doc, reply.replace("keeps the most recent tokens", "")) == "short-quote"
    assert parse_reply('Question: Why x?\nEvidence: "a b c d"\nAnswer: y\nmore') == ("Why x?", ["a b c d"], "y")


def test_report_round_trips():
    from hf_tokens.pipelines.rag_token_metrics.report import RagTokenReport, make_report

    report = make_report(3)
    assert RagTokenReport.from_dict(report.to_dict()) == report
    assert 0 <= report.iou <= report.recall <= 1


def test_ranking_metrics_hand_computed():
    ranked = [7, 3, 9, 1]
    assert recall_at_k(ranked, {3, 1}, 2) == 0.5
    assert recall_at_k(ranked, {3, 1}, 4) == 1.0
    # hits at ranks 2 and 4: (1/log2(3) + 1/log2(5)) / (1/log2(2) + 1/log2(3))
    want = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(ranked, {3, 1}, 10) == pytest.approx(want)
    assert ndcg_at_k([3, 1], {3, 1}) == 1.0
    with pytest.raises(ValueError, match="no reference span"):
        ndcg_at_k(ranked, set())
