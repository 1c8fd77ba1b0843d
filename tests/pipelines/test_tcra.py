"""TCRA-LLM compression: the budget is met, semantic compression keeps a subsequence and drops the words that move
the embedding least, the modes compose, bad input is refused."""

from __future__ import annotations

import math
import re

import pytest
import torch

from hf_tokens.pipelines.tcra.compress import (
    budget_of,
    count_tokens,
    fit_to_budget,
    semantic_compress,
    summarize_to_budget,
)
from hf_tokens.pipelines.tcra.pipeline import CONTEXTS, TCRAConfig, tcra_compress, tiny_models

TEXT = CONTEXTS[0] + "\n\n" + CONTEXTS[1]


@pytest.fixture(scope="module")
def tiny():
    return tiny_models()


def is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


@pytest.mark.parametrize("rate", [1.0, 0.5, 0.2, 0.05])
def test_summary_budget_is_met(tiny, rate):
    budget = budget_of(tiny["tokenizer"], TEXT, rate)
    out = summarize_to_budget(tiny["model"], tiny["tokenizer"], TEXT, budget)
    assert out and count_tokens(tiny["tokenizer"], out) <= budget


def test_fit_to_budget_cuts_to_the_budget(tiny):
    tok = tiny["tokenizer"]
    for budget in (1, 3, 10, 1000):
        out = fit_to_budget(tok, TEXT, budget)
        assert count_tokens(tok, out) <= budget and TEXT.startswith(out)
    assert fit_to_budget(tok, TEXT, 1000) == TEXT.strip()


@pytest.mark.parametrize("rate", [0.8, 0.5, 0.2])
@pytest.mark.parametrize("rounds", [1, 3])
def test_semantic_is_a_subsequence_within_budget(tiny, rate, rounds):
    tok = tiny["tokenizer"]
    budget = budget_of(tok, TEXT, rate)
    out = semantic_compress(
        tiny["encoder"], tiny["encoder_tokenizer"], TEXT, budget, count_tokenizer=tok, rounds=rounds, window_words=8
    )
    assert out and count_tokens(tok, out) <= budget
    assert is_subsequence(out, TEXT)
    words = TEXT.split()
    kept = out.split()
    it = iter(words)
    assert all(w in it for w in kept), "kept words are not an in-order subset of the input's words"
    assert count_tokens(tok, out) >= budget - 8, "semantic compression dropped far more than the budget asks"


def test_semantic_drops_the_word_that_moves_the_embedding_least(tiny):
    """With one round and a budget one word short, the dropped word is the argmax of the deletion similarity."""
    from hf_tokens.pipelines.xtr.index import encode_mean_pooled

    enc, enc_tok, tok = tiny["encoder"], tiny["encoder_tokenizer"], tiny["tokenizer"]
    text = "alpha beta gamma delta epsilon"
    words = text.split()
    variants = [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
    emb = encode_mean_pooled(enc, enc_tok, [text, *variants], max_length=512)
    expected = int(torch.argmax(emb[1:] @ emb[0]))
    budget = count_tokens(tok, variants[expected])
    out = semantic_compress(enc, enc_tok, text, budget, count_tokenizer=tok, rounds=1, window_words=16)
    assert out == variants[expected]


def test_rate_one_keeps_the_text_semantically(tiny):
    tok = tiny["tokenizer"]
    out = semantic_compress(
        tiny["encoder"], tiny["encoder_tokenizer"], TEXT, budget_of(tok, TEXT, 1.0), count_tokenizer=tok
    )
    assert out == TEXT.strip()


def test_both_composes_summary_then_semantic(tiny):
    tok = tiny["tokenizer"]
    config = TCRAConfig(rate=0.4, mode="both", semantic_keep=0.5)
    budget = budget_of(tok, TEXT, 0.4)
    first = summarize_to_budget(tiny["model"], tok, TEXT, math.ceil(budget / 0.5))
    out = tcra_compress(TEXT, config, **tiny)
    assert count_tokens(tok, out) <= budget
    assert is_subsequence(out, first), "the semantic stage must only drop words of the summary"
    assert count_tokens(tok, out) < count_tokens(tok, first)


@pytest.mark.parametrize("rate", [0, -0.1, 1.01, float("nan")])
def test_rate_outside_unit_interval_is_refused(rate):
    with pytest.raises(ValueError, match="rate must be in"):
        TCRAConfig(rate=rate)


def test_bad_arguments(tiny):
    with pytest.raises(TypeError, match="rate"):
        TCRAConfig(rate="half")
    with pytest.raises(ValueError, match="mode"):
        TCRAConfig(mode="drop")
    for context in ("", "  \n "):
        with pytest.raises(ValueError, match="empty"):
            tcra_compress(context, TCRAConfig(), **tiny)
    with pytest.raises(ValueError, match="budget"):
        summarize_to_budget(tiny["model"], tiny["tokenizer"], TEXT, 0)
    with pytest.raises(ValueError, match="encoder"):
        tcra_compress(TEXT, TCRAConfig(mode="semantic"), tokenizer=tiny["tokenizer"])
    with pytest.raises(ValueError, match="summariser"):
        tcra_compress(TEXT, TCRAConfig(mode="summarize"), tokenizer=tiny["tokenizer"])


def test_pipeline_reports_counts(tiny):
    from transformers import pipeline

    pipe = pipeline("context-compression", **tiny)
    out = pipe({"context": TEXT, "question": "What does a server do?"}, rate=0.3, mode="semantic")
    assert out["original_tokens"] == count_tokens(tiny["tokenizer"], TEXT)
    assert out["compressed_tokens"] == count_tokens(tiny["tokenizer"], out["compressed_text"])
    assert out["compressed_tokens"] <= budget_of(tiny["tokenizer"], TEXT, 0.3)
    assert re.sub(r"\s+", "", out["compressed_text"])
