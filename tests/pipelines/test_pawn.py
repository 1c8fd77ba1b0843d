"""PAWN: cached features equal recomputed ones and do not depend on padding; the head's weights are a softmax over
real tokens only; the head learns a planted per-token feature difference; save/load; clear errors."""

from __future__ import annotations

import pytest
import torch
import transformers

from hf_tokens.pipelines.pawn import (
    PawnConfig,
    PawnHead,
    PawnHeadConfig,
    PawnPipeline,
    TextFeatures,
    cache_features,
    collate,
    compute_features,
    load_features,
    predict,
    train_pawn,
)
from hf_tokens.testing import tiny_model, tiny_tokenizer

TEXTS = ["The quick brown fox jumps over the lazy dog.", "Hello world, again and again!", "def main():\n    return 0"]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return tiny_model("llama", vocab_size=len(tok), seed=0)


def test_cache_equals_recomputed_and_is_not_recomputed(model, tok, tmp_path):
    paths = cache_features(model, tok, TEXTS, tmp_path)
    fresh = compute_features(model, tok, TEXTS)
    for p, f in zip(paths, fresh):
        got = load_features(p)
        torch.testing.assert_close(got.features, f.features)
        torch.testing.assert_close(got.hidden, f.hidden)
        assert torch.equal(got.positions, f.positions)
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert cache_features(model, tok, TEXTS, tmp_path) == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamps  # cached: not written again
    logp = fresh[0].features[:, 0]
    assert bool((logp <= fresh[0].features[:, 1] + 1e-5).all())  # observed log-prob <= top-1 log-prob
    assert bool((fresh[0].features[:, 2] >= 0).all())  # entropy


@pytest.mark.parametrize("side", ["left", "right"])
def test_features_padding_invariant(model, tok, side):
    alone = [compute_features(model, tok, [t])[0] for t in TEXTS]
    tok.padding_side = side
    try:
        batched = compute_features(model, tok, TEXTS)
    finally:
        tok.padding_side = "right"
    for a, b in zip(alone, batched):
        torch.testing.assert_close(a.features, b.features, atol=1e-4, rtol=0)
        torch.testing.assert_close(a.hidden, b.hidden, atol=1e-4, rtol=0)
        assert torch.equal(a.positions, b.positions) and int(a.positions[0]) == 0


def _synthetic(n, seed, hidden=8):
    """Texts whose token 3 carries the signal; the other tokens are noise with the same distribution per class."""
    g = torch.Generator().manual_seed(seed)
    items, labels = [], []
    for i in range(n):
        t = int(torch.randint(6, 20, (1,), generator=g))
        feats = torch.randn(t, 3, generator=g)
        y = i % 2
        feats[3, 0] += 3.0 if y else -3.0
        h = torch.randn(t, hidden, generator=g)
        h[3, 0] = 4.0  # the gate can find the informative token from its hidden state
        items.append(TextFeatures(feats, h, torch.arange(t)))
        labels.append(y)
    return items, labels


def test_head_learns_planted_feature_difference():
    train, y = _synthetic(96, 0)
    test, yt = _synthetic(64, 1)
    head, log = train_pawn(
        train, y, PawnConfig(epochs=30, lr=3e-3, seed=0), PawnHeadConfig(hidden_size=8, num_features=3, dropout=0.0)
    )
    assert log["loss"][-1] < 0.5 * log["loss"][0]
    acc = ((predict(head, test) > 0).long() == torch.tensor(yt)).float().mean()
    assert acc >= 0.9
    batch = collate(test[:4])
    w = head(**batch)["weights"]
    assert float(w[:, 3].mean()) > 0.3  # attention concentrates on the informative token (uniform would be < 0.17)


def test_weights_softmax_over_real_tokens_and_padding_ignored():
    torch.manual_seed(0)
    head = PawnHead(PawnHeadConfig(hidden_size=8, num_features=3, dropout=0.0)).eval()
    items, _ = _synthetic(4, 2)
    batch = collate(items)
    out = head(**batch)
    w = out["weights"]
    torch.testing.assert_close(w.sum(1), torch.ones(4))
    assert bool((w[~batch["mask"]] == 0).all())
    junk = {k: v.clone() for k, v in batch.items()}
    junk["features"][~batch["mask"]] = 1e3
    junk["hidden"][~batch["mask"]] = -1e3
    torch.testing.assert_close(head(**junk)["logits"], out["logits"])
    alone = torch.cat([head(**collate([it]))["logits"] for it in items])
    torch.testing.assert_close(alone, out["logits"], atol=1e-5, rtol=0)


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    head = PawnHead(PawnHeadConfig(hidden_size=8, num_features=3, base_model="tiny")).eval()
    head.save_pretrained(tmp_path)
    again = PawnHead.from_pretrained(tmp_path).eval()
    items, _ = _synthetic(3, 3)
    torch.testing.assert_close(predict(again, items), predict(head, items))
    assert again.config.base_model == "tiny"


def test_pipeline_scores_and_errors(model, tok):
    torch.manual_seed(0)
    head = PawnHead(PawnHeadConfig(hidden_size=model.config.hidden_size, dropout=0.0))
    pipe = transformers.pipeline("pawn-llm-text-detection", model=model, tokenizer=tok, head=head)
    assert isinstance(pipe, PawnPipeline)
    out = pipe(TEXTS[0], baselines=True)
    want = predict(head, compute_features(model, tok, [TEXTS[0]]))
    assert abs(out["score"] - float(want[0])) < 1e-5
    assert set(out) >= {"score", "probability", "machine", "log_likelihood", "entropy", "num_tokens"}
    wrong = PawnHead(PawnHeadConfig(hidden_size=model.config.hidden_size + 1, base_model="other"))
    with pytest.raises(ValueError, match="hidden size"):
        transformers.pipeline("pawn-llm-text-detection", model=model, tokenizer=tok, head=wrong)
    with pytest.raises(TypeError, match="head"):
        transformers.pipeline("pawn-llm-text-detection", model=model, tokenizer=tok)
    with pytest.raises(ValueError, match="non-empty"):
        pipe("")
    with pytest.raises(ValueError, match="hidden size"):
        wrong(**collate(compute_features(model, tok, [TEXTS[0]])))


def test_config_errors():
    with pytest.raises(ValueError, match="epochs"):
        PawnConfig(epochs=0)
    with pytest.raises(ValueError, match="lr"):
        PawnConfig(lr=float("nan"))
    with pytest.raises(ValueError, match="position_dim"):
        PawnHeadConfig(position_dim=3)
    with pytest.raises(ValueError, match="labels"):
        train_pawn(_synthetic(2, 0)[0], [0, 2])


def test_validation_split_returns_the_best_epochs_head():
    """With a validation split the returned head is the epoch with the lowest validation loss, whose loss it has."""
    train, y = _synthetic(32, 0)
    val, yv = _synthetic(32, 2)
    val[0].features[3, 0] *= -1  # a few mislabelled-looking validation texts so the val loss turns up when it overfits
    head, log = train_pawn(
        train, y, PawnConfig(epochs=12, lr=1e-2, seed=0), PawnHeadConfig(hidden_size=8, num_features=3, dropout=0.0),
        val_data=val, val_labels=yv,
    )  # fmt: skip
    assert len(log["val_loss"]) == 12 and log["best_epoch"] == min(range(12), key=log["val_loss"].__getitem__)
    assert log["best_epoch"] < 11  # an earlier epoch's weights were restored
    with torch.no_grad():
        logits = head(**collate(val))["logits"]
    got = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor(yv, dtype=torch.float))
    assert abs(float(got) - min(log["val_loss"])) < 1e-6
    with pytest.raises(ValueError, match="together"):
        train_pawn(train, y, val_data=val)
    with pytest.raises(ValueError, match="val_labels"):
        train_pawn(train, y, val_data=val, val_labels=[2] * len(val))


def test_feature_columns(model, tok):
    f = compute_features(model, tok, TEXTS[:1])[0].features
    assert f.shape[1] == 5
    logp, entropy, sigma, z = f[:, 0], f[:, 2], f[:, 3], f[:, 4]
    assert bool((sigma > 0).all())
    torch.testing.assert_close(z, (logp + entropy) / sigma)  # Fast-DetectGPT's per-token standardised log-prob


def test_untrained_head_and_mean_pooling_weight_tokens_equally():
    """The gate starts at zero: before training PAWN is the mean aggregation it re-weights; ``mean_pooling`` (the
    ablation) keeps it there whatever the gate's weights."""
    torch.manual_seed(0)
    head = PawnHead(PawnHeadConfig(hidden_size=8, num_features=3)).eval()
    items, _ = _synthetic(4, 5)
    batch = collate(items)
    uniform = batch["mask"].float() / batch["mask"].sum(1, keepdim=True).float()
    torch.testing.assert_close(head(**batch)["weights"], uniform)
    pooled = PawnHead(PawnHeadConfig(hidden_size=8, num_features=3, mean_pooling=True)).eval()
    with torch.no_grad():
        head.gate[-1].weight.normal_()
        pooled.gate[-1].weight.normal_()
    assert not torch.allclose(head(**batch)["weights"], uniform)
    torch.testing.assert_close(pooled(**batch)["weights"], uniform)
    with pytest.raises(TypeError, match="mean_pooling"):
        PawnHeadConfig(mean_pooling=1)


def test_standardisation_makes_training_unit_free():
    """Each metric is standardised by the training texts' statistics, so rescaling or shifting a metric (e.g. log2
    instead of nats) in training and test data changes nothing."""
    train, y = _synthetic(48, 0)
    test, _ = _synthetic(16, 1)
    scale, shift = torch.tensor([2.0, 0.1, 30.0]), torch.tensor([-5.0, 3.0, 100.0])

    def rescaled(items):
        return [TextFeatures(it.features * scale + shift, it.hidden, it.positions) for it in items]

    hc = PawnHeadConfig(hidden_size=8, num_features=3, dropout=0.0)
    head, _ = train_pawn(train, y, PawnConfig(epochs=3, seed=0), hc)
    other, _ = train_pawn(rescaled(train), y, PawnConfig(epochs=3, seed=0), hc)
    torch.testing.assert_close(predict(other, rescaled(test)), predict(head, test), atol=1e-4, rtol=1e-4)
    feats = torch.cat([it.features for it in train])
    assert head.config.feature_mean == pytest.approx(feats.mean(0).tolist(), abs=1e-6)
    assert head.config.feature_std == pytest.approx(feats.std(0).tolist(), abs=1e-6)
    assert hc.feature_mean is None  # the caller's config is not modified


def test_save_load_keeps_feature_statistics(tmp_path):
    torch.manual_seed(0)
    cfg = PawnHeadConfig(hidden_size=8, num_features=3, feature_mean=[1.0, -2.0, 3.0], feature_std=[0.5, 2.0, 4.0])
    head = PawnHead(cfg).eval()
    with torch.no_grad():
        head.gate[-1].weight.normal_()  # non-uniform weights, so that a lost gate would show
    head.save_pretrained(tmp_path)
    again = PawnHead.from_pretrained(tmp_path).eval()
    assert again.config.feature_std == [0.5, 2.0, 4.0]
    items, _ = _synthetic(3, 3)
    torch.testing.assert_close(predict(again, items), predict(head, items))


def test_head_config_errors_and_old_feature_files(tmp_path):
    with pytest.raises(ValueError, match="feature_mean"):
        PawnHeadConfig(num_features=3, feature_mean=[0.0, 1.0])
    with pytest.raises(ValueError, match="feature_std"):
        PawnHeadConfig(num_features=2, feature_std=[1.0, 0.0])
    with pytest.raises(ValueError, match="hidden_dropout"):
        PawnHeadConfig(hidden_dropout=1.0)
    from hf_tokens.analysis.token_stats_result import write_safetensors

    old = write_safetensors(
        tmp_path / "old.safetensors", {"features": torch.zeros(2, 3)}, {"hf_tokens.pawn_features": "1"}
    )
    with pytest.raises(ValueError, match="version 2"):
        load_features(old)
