"""LLMLingua-2: the output is a subsequence of the input's words, the requested rate is met exactly, forced words are
kept, long inputs are chunked, bad input fails clearly; distillation alignment and classifier training."""

from __future__ import annotations

import itertools

import pytest
import torch
from transformers import pipeline

import hf_tokens.pipelines.llmlingua2  # noqa: F401  (registers the task)
from hf_tokens.pipelines.llmlingua2 import (
    align_labels,
    compress_words,
    keep_probabilities,
    split_words,
    tiny_classifier,
    train_classifier,
    variation_rate,
    word_chunks,
)

TEXT = (
    "The sqlite3 module provides a DB-API 2.0 compliant interface to the SQLite library. To use the module, "
    "start by creating a Connection object that represents the database; here the data will be stored in the "
    "example.db file. Why would you use it? Because it needs no separate server process."
)


@pytest.fixture(scope="module")
def compressor():
    model, tokenizer = tiny_classifier()
    return pipeline("prompt-compression", model=model, tokenizer=tokenizer)


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    it = iter(long)
    return all(any(w == x for x in it) for w in short)


@pytest.mark.parametrize("rate", [1.0, 0.5, 1 / 3, 0.2, 0.01])
def test_subsequence_and_exact_rate(compressor, rate):
    words = split_words(TEXT)
    out = compressor(TEXT, rate=rate)
    kept = split_words(out["compressed_prompt"])
    assert _is_subsequence(kept, words)
    assert len(kept) == out["n_kept"] == max(1, round(rate * len(words)))
    assert out["kept_indices"] == sorted(out["kept_indices"])
    assert [words[i] for i in out["kept_indices"]] == kept


def test_keeps_the_most_probable_words():
    words = ["a", "b", "c", "d", "e"]
    probs = torch.tensor([0.1, 0.9, 0.5, 0.8, 0.2])
    assert compress_words(words, probs, 0.6)["compressed_prompt"] == "b c d"
    out = compress_words(words, probs, 0.4, force_tokens=["e"])
    assert out["compressed_prompt"] == "b e"  # forced "e" counts towards the 2-word budget
    over = compress_words(words, probs, 0.2, force_tokens=["a", "e"])
    assert over["compressed_prompt"] == "a e" and over["rate"] == pytest.approx(0.4)


def test_force_tokens_kept(compressor):
    out = compressor(TEXT, rate=0.2, force_tokens=["?", "sqlite3"])
    kept = split_words(out["compressed_prompt"])
    assert "it?" in kept and "sqlite3" in kept
    assert _is_subsequence(kept, split_words(TEXT))


def test_long_input_is_chunked_and_scored_per_chunk():
    model, tokenizer = tiny_classifier()
    words = split_words(TEXT * 40)  # about 1800 words, several thousand tokens
    chunks = word_chunks(tokenizer, words, 64)
    assert len(chunks) > 20 and chunks[0][0] == 0 and chunks[-1][1] == len(words)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    for start, end in chunks:
        assert len(tokenizer(words[start:end], is_split_into_words=True)["input_ids"]) <= 64
    probs = keep_probabilities(model, tokenizer, words, max_length=64)
    start, end = chunks[3]
    alone = keep_probabilities(model, tokenizer, words[start:end], max_length=64)
    torch.testing.assert_close(probs[start:end], alone)
    pipe = pipeline("prompt-compression", model=model, tokenizer=tokenizer)
    out = pipe(TEXT * 40, rate=0.25)  # default window 512: no truncation error, exact rate over all chunks
    assert out["n_words"] == len(words) and out["n_kept"] == round(0.25 * len(words))


@pytest.mark.parametrize("rate", [0, -0.5, 1.01, "half", True, None])
def test_bad_rate(compressor, rate):
    if rate is None:
        assert compressor(TEXT)["n_kept"] == round(0.5 * len(split_words(TEXT)))  # the config's default
        return
    with pytest.raises(ValueError, match="rate"):
        compressor(TEXT, rate=rate)


@pytest.mark.parametrize("text", ["", "  \n\t ", 3, None])
def test_bad_text(compressor, text):
    with pytest.raises((ValueError, TypeError), match=r"empty|str"):
        compressor(text, rate=0.5)


def test_rejects_a_classifier_without_two_labels():
    from transformers import BertConfig, BertForTokenClassification

    _, tokenizer = tiny_classifier()
    cfg = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        num_labels=3,
    )
    with pytest.raises(ValueError, match="2 labels"):
        pipeline("prompt-compression", model=BertForTokenClassification(cfg), tokenizer=tokenizer)


def test_alignment_labels_the_llm_kept_words():
    original = split_words("To use the module, start by creating a Connection object.")
    labels = align_labels(original, "use module: creating Connection object")
    assert labels == [0, 1, 0, 1, 0, 0, 1, 0, 1, 1]
    assert variation_rate("use module: creating Connection object", labels) == 0.0
    bad = align_labels(original, "object module invented")  # order violated and a new word: only "object" aligns
    assert bad == [0] * 9 + [1] and variation_rate("object module invented", bad) == pytest.approx(2 / 3)


def test_training_learns_distilled_labels():
    model, tokenizer = tiny_classifier(seed=1)
    words = split_words(TEXT)
    labels = [int(len(w.strip(".,?;")) > 4) for w in words]  # a learnable rule: keep long words
    log = train_classifier(model, tokenizer, [(words, labels)], epochs=60, lr=3e-3, seed=0)
    assert log["steps"] == 60 and not model.training
    probs = keep_probabilities(model, tokenizer, words)
    predicted = (probs > 0.5).long().tolist()
    assert sum(p == y for p, y in zip(predicted, labels)) / len(words) > 0.9
    with pytest.raises(ValueError, match="labels"):
        train_classifier(model, tokenizer, [(words, labels[:-1])])


def test_benchmark_random_drop_and_f1():
    from benchmarks.compression import random_drop, token_f1

    drop = random_drop(seed=0)
    short = drop(TEXT, "q", 0.2)
    assert _is_subsequence(split_words(short), split_words(TEXT))
    assert len(split_words(short)) == round(0.2 * len(split_words(TEXT)))
    assert short == drop(TEXT, "q", 0.2)  # seeded
    assert token_f1("The default limit is 256 MiB.", "the default memory limit is 256 MiB") == pytest.approx(10 / 11)
    assert token_f1("", "anything") == 0.0
