"""Loss per character (the transfer metric) and the continued-training step after a transplant."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from hf_tokens.testing import tiny_model, tiny_tokenizer
from hf_tokens.tokenizers import ContinuedTrainingConfig, continue_training, nll_per_char, transplant
from hf_tokens.tokenizers.continued import document_batches
from hf_tokens.tokenizers.evaluation import nll_and_chars

TEXTS = [
    "The quick brown fox jumps over the lazy dog, and the lazy dog sleeps on. " * 4,
    "Tokens in, tokens out: a model reads a tokenizer's ids and writes them back. " * 4,
]


def test_nll_per_char_matches_a_hand_computation():
    model, tok = tiny_model("llama"), tiny_tokenizer()
    text = TEXTS[0]
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = torch.tensor([enc["input_ids"]])
    with torch.no_grad():
        logp = model(ids).logits[0, :-1].log_softmax(-1)
    nll = -logp.gather(1, ids[0, 1:, None]).sum()
    expected = float(nll) / (len(text) - enc["offset_mapping"][0][1])
    assert nll_per_char(model, tok, text) == pytest.approx(expected, rel=1e-5)
    # a list pools tokens and characters over texts (not a mean of per-text values)
    both = nll_per_char(model, tok, TEXTS)
    singles = [nll_per_char(model, tok, t) for t in TEXTS]
    assert min(singles) <= both <= max(singles)
    parts = nll_and_chars(model, tok, TEXTS)  # per text (nats, chars), the pieces the pooled value is made of
    assert [n / c for n, c in parts] == pytest.approx(singles, rel=1e-6)
    assert parts[0][1] == len(text) - enc["offset_mapping"][0][1]
    assert sum(n for n, _ in parts) / sum(c for _, c in parts) == pytest.approx(both, rel=1e-6)


def test_nll_per_char_is_comparable_across_tokenizers():
    """Two tokenizers of the same text, same model behaviour: a coarser tokenizer covers more characters per token,
    and the metric divides by characters, so an untrained uniform model scores the coarser one lower."""
    model, fine = tiny_model("llama", vocab_size=400), tiny_tokenizer(320)
    coarse = tiny_tokenizer(400)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # uniform predictions: log(V) nats per token
    text = TEXTS[1]
    for tok in (fine, coarse):
        n = len(tok(text, add_special_tokens=False)["input_ids"])
        first = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"][0][1]
        assert nll_per_char(model, tok, text) == pytest.approx((n - 1) * math.log(400) / (len(text) - first))
    assert nll_per_char(model, coarse, text) < nll_per_char(model, fine, text)


def test_nll_per_char_errors():
    model, tok = tiny_model("llama"), tiny_tokenizer()
    with pytest.raises(TypeError, match="texts"):
        nll_per_char(model, tok, [])
    with pytest.raises(ValueError, match="at least 2 tokens"):
        nll_per_char(model, tok, "a")


def test_continued_training_closes_the_transplant_gap():
    """The property ZeTT's n-shot transfer relies on: a few steps on text recover loss lost by a transplant."""
    model, tok, new_tok = tiny_model("llama"), tiny_tokenizer(), tiny_tokenizer(400)
    moved, moved_tok = transplant(model, tok, new_tok, "random")
    before = nll_per_char(moved, moved_tok, TEXTS)
    config = ContinuedTrainingConfig(steps=25, batch_size=2, max_tokens=48, lr=3e-3, warmup=2)
    losses = continue_training(moved, moved_tok, TEXTS, config)
    assert len(losses) == 25 and not moved.training
    after = nll_per_char(moved, moved_tok, TEXTS)
    assert after < before - 0.2, (before, after)
    assert sum(losses[-5:]) < sum(losses[:5])


def test_same_budget_same_result_and_embeddings_only_freezes_the_rest():
    model, tok = tiny_model("llama", tie_word_embeddings=False), tiny_tokenizer()
    config = ContinuedTrainingConfig(steps=3, batch_size=2, max_tokens=16, lr=1e-3, train="embeddings")
    a, b = copy.deepcopy(model), copy.deepcopy(model)
    flags = {n: p.requires_grad for n, p in a.named_parameters()}
    la, lb = continue_training(a, tok, TEXTS, config), continue_training(b, tok, TEXTS, config)
    assert la == lb
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name
        assert pa.requires_grad == flags[name], name
    trained = {"model.embed_tokens.weight", "lm_head.weight"}
    original = dict(model.named_parameters())
    for name, p in a.named_parameters():
        assert torch.equal(p, original[name]) == (name not in trained), name


def test_every_arm_sees_the_same_documents_in_the_same_order():
    config = ContinuedTrainingConfig(steps=7, batch_size=3, seed=5)
    batches = document_batches(4, config)
    assert batches == document_batches(4, config) and len(batches) == 7
    flat = [i for b in batches for i in b]
    assert sorted(flat[:4]) == sorted(flat[4:8]) == [0, 1, 2, 3]  # each pass covers every document once
    assert batches != document_batches(4, ContinuedTrainingConfig(steps=7, batch_size=3, seed=6))


def test_continued_training_errors():
    model, tok = tiny_model("llama"), tiny_tokenizer()
    for bad in ({"steps": 0}, {"max_tokens": -1}, {"lr": 0.0}, {"train": "lora"}, {"warmup": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ContinuedTrainingConfig(**bad)
    with pytest.raises(TypeError, match="texts"):
        continue_training(model, tok, TEXTS[0])
    with pytest.raises(TypeError, match="config"):
        continue_training(model, tok, TEXTS, {"steps": 1})
    with pytest.raises(ValueError, match="single token"):
        continue_training(model, tok, ["a", "b"], ContinuedTrainingConfig(steps=1, batch_size=2))
    with pytest.raises(ValueError, match="embedding matrix"):
        continue_training(model, tiny_tokenizer(400), TEXTS)
