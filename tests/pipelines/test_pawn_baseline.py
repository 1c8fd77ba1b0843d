"""PAWN's supervised baseline (a fine-tuned 2-label encoder classifier): it learns a planted lexical difference and
scores held-out texts in the right direction; a seed fixes the run; a text's score does not depend on the batch it
is padded with; the real MiniLM keeps its pretrained encoder and pooler under a fresh head; clear errors."""

from __future__ import annotations

import random

import pytest
import torch

from hf_tokens.analysis.detection_scores import auroc
from hf_tokens.pipelines.pawn import (
    ClassifierBaselineConfig,
    classifier_scores,
    minilm_classifier,
    train_text_classifier,
)
from hf_tokens.testing import tiny_tokenizer

HUMAN = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "hello", "world"]
MACHINE = ["tokens", "caches", "keys", "values", "models", "read", "write", "import", "torch", "print"]


def _texts(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Label 1 texts draw 80% of their words from MACHINE, label 0 texts from HUMAN; the rest from both pools."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        y = i % 2
        own = MACHINE if y else HUMAN
        words = [
            rng.choice(own) if rng.random() < 0.8 else rng.choice(HUMAN + MACHINE) for _ in range(rng.randint(4, 12))
        ]
        texts.append(" ".join(words))
        labels.append(y)
    return texts, labels


def _tiny_classifier(seed: int = 0):
    from transformers import BertConfig, BertForSequenceClassification

    tok = tiny_tokenizer()
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128, num_labels=2,
                     pad_token_id=tok.pad_token_id)  # fmt: skip
    torch.manual_seed(seed)
    return BertForSequenceClassification(cfg).eval(), tok


def test_learns_planted_difference_and_orients_scores():
    model, tok = _tiny_classifier()
    train, y = _texts(64, 0)
    test, yt = _texts(48, 1)
    before = auroc(classifier_scores(model, tok, test).tolist(), yt)
    log = train_text_classifier(model, tok, train, y, ClassifierBaselineConfig(epochs=8, lr=3e-3, batch_size=16))
    assert log["loss"][-1] < 0.5 * log["loss"][0]
    assert log["steps"] == 8 * 4 and not model.training
    after = auroc(classifier_scores(model, tok, test).tolist(), yt)
    assert after >= 0.95 > before + 0.2  # higher score = machine (label 1), on texts it never saw


def test_same_seed_same_run_other_seed_differs():
    train, y = _texts(32, 0)
    test, _ = _texts(8, 1)
    cfg = ClassifierBaselineConfig(epochs=2, lr=3e-3, batch_size=8, seed=3)
    runs = []
    for seed in (0, 0, 1):
        model, tok = _tiny_classifier(seed)
        train_text_classifier(model, tok, train, y, cfg if seed == 0 else ClassifierBaselineConfig(epochs=2, lr=3e-3,
                              batch_size=8, seed=4))  # fmt: skip
        runs.append(classifier_scores(model, tok, test))
    torch.testing.assert_close(runs[0], runs[1], atol=0, rtol=0)
    assert not torch.allclose(runs[0], runs[2])


@pytest.mark.parametrize("side", ["right", "left"])
def test_score_independent_of_batch_padding(side):
    model, tok = _tiny_classifier()
    texts, _ = _texts(6, 2)
    tok.padding_side = side  # the tokenizer's own side is overridden: BERT's positions need right padding
    together = classifier_scores(model, tok, texts, batch_size=6)
    alone = torch.cat([classifier_scores(model, tok, [t]) for t in texts])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_truncation_to_max_length():
    model, tok = _tiny_classifier()
    long = "hello world " * 200  # far longer than max_position_embeddings without truncation
    score = classifier_scores(model, tok, [long], max_length=64)
    assert score.shape == (1,) and bool(torch.isfinite(score).all())


def test_minilm_classifier_keeps_pretrained_encoder(minilm):
    encoder, _ = minilm
    model, tok = minilm_classifier(seed=0)
    assert model.config.num_labels == 2 and model.config.id2label[1] == "machine"
    ref = dict(encoder.named_parameters())
    for name, p in model.bert.named_parameters():  # encoder and pooler: pretrained, not re-initialised
        torch.testing.assert_close(p, ref[name], atol=0, rtol=0)
    again, _ = minilm_classifier(seed=0)
    torch.testing.assert_close(model.classifier.weight, again.classifier.weight, atol=0, rtol=0)
    assert classifier_scores(model, tok, ["A short text."]).shape == (1,)


def test_errors():
    model, tok = _tiny_classifier()
    with pytest.raises(TypeError, match="texts"):
        classifier_scores(model, tok, "a text")
    with pytest.raises(ValueError, match="texts"):
        classifier_scores(model, tok, [])
    with pytest.raises(ValueError, match="empty"):
        classifier_scores(model, tok, ["ok", "  "])
    with pytest.raises(ValueError, match="batch_size"):
        classifier_scores(model, tok, ["ok"], batch_size=0)
    with pytest.raises(ValueError, match="equal length"):
        train_text_classifier(model, tok, ["a", "b"], [0])
    with pytest.raises(ValueError, match="labels"):
        train_text_classifier(model, tok, ["a", "b"], [0, 2])
    model.config.num_labels = 3
    with pytest.raises(ValueError, match="num_labels=2"):
        classifier_scores(model, tok, ["ok"])
    for bad in ({"epochs": 0}, {"lr": 0}, {"lr": float("nan")}, {"warmup_ratio": 1.0}, {"max_length": 0},
                {"time_budget_s": 0}):  # fmt: skip
        with pytest.raises(ValueError, match=next(iter(bad))):
            ClassifierBaselineConfig(**bad)


def test_validation_split_keeps_the_best_epoch():
    model, tok = _tiny_classifier()
    train, y = _texts(32, 0)
    val, yv = _texts(16, 3)
    cfg = ClassifierBaselineConfig(epochs=5, lr=3e-3, batch_size=16)
    log = train_text_classifier(model, tok, train, y, cfg, val_texts=val, val_labels=yv)
    assert len(log["val_loss"]) == 5 and log["best_epoch"] == min(range(5), key=log["val_loss"].__getitem__)
    sign = 2.0 * torch.tensor(yv, dtype=torch.float) - 1.0
    got = torch.nn.functional.softplus(-sign * classifier_scores(model, tok, val)).mean()
    assert abs(float(got) - min(log["val_loss"])) < 1e-5 and not model.training
    with pytest.raises(ValueError, match="together"):
        train_text_classifier(model, tok, train, y, cfg, val_texts=val)
    with pytest.raises(ValueError, match="val_labels"):
        train_text_classifier(model, tok, train, y, cfg, val_texts=val, val_labels=yv[:-1])
