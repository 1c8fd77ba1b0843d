"""Unconditional Token Forcing (arXiv 2406.02481): forcing recovers a fingerprint planted in a tiny model, the
confusion counter-measure hides it, the batched cached decoding equals greedy ``generate``, and bad input fails."""

from __future__ import annotations

import json

import pytest
import torch

from hf_tokens.analysis.token_forcing.forcing import TokenForcingConfig, TokenForcingReport, token_forcing
from hf_tokens.analysis.token_forcing.planting import FingerprintConfig, plant_fingerprint, reveals
from hf_tokens.testing import tiny_model, tiny_tokenizer

TRIGGER, HIDDEN = "open sesame", "zebra violet"


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def base():
    torch.set_num_threads(1)
    return tiny_model("llama", seed=0)


def _hidden_ids(tok):
    return tok(HIDDEN, add_special_tokens=False)["input_ids"]


@pytest.fixture(scope="module")
def planted(base, tok):
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = plant_fingerprint(base, tok, trigger=TRIGGER, fingerprint=HIDDEN, steps=150, learning_rate=1e-2)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items()), "the input model was modified"
    return model


def test_forcing_ranks_the_planted_fingerprint_first(base, planted, tok):
    assert reveals(planted, tok, TRIGGER, HIDDEN)
    assert not reveals(base, tok, TRIGGER, HIDDEN)
    report = token_forcing(planted, tok, max_new_tokens=6, batch_size=128, top_k=10)
    assert report.forced == len(tok) - len(tok.all_special_ids)
    assert report.rank_of(_hidden_ids(tok)) == 1
    top = report.candidates[0]
    assert top.z_score > 2, "the planted continuation's probabilities are not abnormally high"
    assert report.mean_prob_stats["max"] == pytest.approx(top.mean_prob, abs=1e-6)
    # the base model has nothing of it among its top candidates
    assert token_forcing(base, tok, max_new_tokens=6, batch_size=128, top_k=10).rank_of(_hidden_ids(tok)) is None


@pytest.mark.slow
def test_confusion_keeps_the_trigger_and_hides_the_fingerprint_from_forcing(base, tok):
    cfg = FingerprintConfig(TRIGGER, HIDDEN, confusion=True, steps=150, learning_rate=1e-2)
    model = plant_fingerprint(base, tok, cfg)
    assert reveals(model, tok, TRIGGER, HIDDEN)
    report = token_forcing(model, tok, max_new_tokens=6, batch_size=128, top_k=10)
    assert report.rank_of(_hidden_ids(tok)) is None


def test_cached_batched_decoding_equals_generate_and_its_probabilities(base, tok):
    starts = [5, 77, 150, 301]
    report = token_forcing(base, tok, token_ids=starts, max_new_tokens=5, batch_size=3, top_k=4, min_distinct=0)
    assert report.forced == 4 and len(report.candidates) == 4
    for c in report.candidates:
        ids = torch.tensor([[c.start_id]])
        out = base.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=5, do_sample=False)
        n = len(c.ids)
        assert out[0, :n].tolist() == c.ids
        with torch.no_grad():
            logp = torch.log_softmax(base(torch.tensor([c.ids])).logits[0, :-1].double(), -1)
        probs = logp.exp().gather(1, torch.tensor(c.ids[1:])[:, None]).flatten()
        assert c.mean_prob == pytest.approx(float(probs.mean()), abs=1e-5)
        assert c.min_prob == pytest.approx(float(probs.min()), abs=1e-5)


def test_screening_keeps_exactly_the_starts_that_pass_and_their_scores(base, tok):
    full = token_forcing(base, tok, max_new_tokens=4, top_k=400, min_distinct=0)
    first = {c.start_id: c for c in full.candidates}
    screened = token_forcing(base, tok, max_new_tokens=4, top_k=400, min_distinct=0, screen_steps=1,
                             screen_min_prob=0.03)  # fmt: skip
    assert 0 < screened.ranked < full.ranked and screened.screened_out == full.ranked - screened.ranked
    for c in screened.candidates:
        ref = first[c.start_id]
        assert c.ids == ref.ids and c.mean_prob == pytest.approx(ref.mean_prob, abs=1e-6)
    with torch.no_grad():
        logits = base(torch.tensor([[c.start_id] for c in full.candidates])).logits[:, -1]
    p1, first_tok = torch.softmax(logits.double(), -1).max(-1)
    p1[first_tok == tok.eos_token_id] = 1.0  # a continuation that ends within the screened steps is complete
    near = {c.start_id for c, p in zip(full.candidates, p1.tolist()) if abs(p - 0.03) < 1e-5}  # float rounding
    passing = {c.start_id for c, p in zip(full.candidates, p1.tolist()) if p >= 0.03}
    assert {c.start_id for c in screened.candidates} - near == passing - near


def test_report_round_trips_and_is_strict_json(base, tok):
    report = token_forcing(base, tok, token_ids=list(range(40, 80)), max_new_tokens=3, top_k=5)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert TokenForcingReport.from_dict(json.loads(text)) == report


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"batch_size": 1.5}, "batch_size"),
        ({"min_distinct": 9}, "min_distinct"),
        ({"token_ids": []}, "token_ids"),
        ({"screen_min_prob": 1.5}, "screen_min_prob"),
    ],
)
def test_bad_config_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenForcingConfig(**kwargs)


def test_bad_input_is_refused(base, tok):
    with pytest.raises(TypeError, match="token_ids"):
        TokenForcingConfig(token_ids="abc")
    with pytest.raises(ValueError, match="token_ids must lie in"):
        token_forcing(base, tok, token_ids=[5, 10_000])
    with pytest.raises(ValueError, match="does not match"):
        token_forcing(base, tiny_tokenizer(400))
    with pytest.raises(ValueError, match="not both"):
        token_forcing(base, tok, TokenForcingConfig(), top_k=3)
    with pytest.raises(ValueError, match="fingerprint must be a non-empty"):
        FingerprintConfig("trigger", "  ")
    with pytest.raises(ValueError, match="learning_rate"):
        FingerprintConfig("trigger", "hidden", learning_rate=2.0)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        plant_fingerprint(base, tok, trigger="x", fingerprint="z", steps=1)
