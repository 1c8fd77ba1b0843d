"""DC-PDD and its baselines: hand-computed values, the clip, the reference frequencies, membership on a tiny model
that memorised its training texts, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch
import transformers

from hf_tokens.analysis import detection_scores as ds
from hf_tokens.analysis import token_stats
from hf_tokens.pipelines.dc_pdd.frequency import TokenFrequency
from hf_tokens.pipelines.dc_pdd.pipeline import DCPDDConfig, DCPDDPipeline, dc_pdd_score
from hf_tokens.testing import tiny_model, tiny_tokenizer

TEXTS = ["The quick brown fox jumps over the lazy dog.", "def main():\n    return 0\n", "Hello world! Hello world!"]


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model(tok):
    return tiny_model("llama", vocab_size=len(tok))


@pytest.fixture(scope="module")
def freq(tok):
    return TokenFrequency.from_texts(tok, TEXTS * 2 + ["a b c d e f g"], vocab_size=len(tok))


def _full_log_probs(model, tok, text):
    ids = tok(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0, :-1].double(), -1)
    return ids[0, 1:], logp


def test_min_k_plus_plus_equals_hand_computed_value(model, tok):
    text, k = TEXTS[0], 0.3
    targets, logp = _full_log_probs(model, tok, text)
    p = logp.exp()
    mu = (p * logp).sum(-1)
    sigma = ((p * logp**2).sum(-1) - mu**2).sqrt()
    z = (logp.gather(1, targets[:, None])[:, 0] - mu) / sigma
    want = z.sort().values[: int(k * len(z))].mean()
    stats = token_stats(model, tok, [text], logp_std=True)
    assert ds.min_k_plus_plus(stats, k).item() == pytest.approx(want.item(), abs=1e-4)
    want_mink = logp.gather(1, targets[:, None])[:, 0].sort().values[: int(k * len(z))].mean()
    assert ds.min_k_prob(stats, k).item() == pytest.approx(want_mink.item(), abs=1e-4)


def test_perplexity_zlib_and_lowercase_baselines_point_up_for_members(model, tok):
    """Hand-computed: -log PPL, -log PPL / zlib bytes, -log PPL(text) / log PPL(lower-cased text)."""
    import zlib

    text = TEXTS[0]
    log_ppl = -_full_log_probs(model, tok, text)[1].gather(1, _full_log_probs(model, tok, text)[0][:, None]).mean()
    lower_t, lower_lp = _full_log_probs(model, tok, text.lower())
    lower_log_ppl = -lower_lp.gather(1, lower_t[:, None]).mean()
    stats, lower = token_stats(model, tok, [text]), token_stats(model, tok, [text.lower()])
    assert ds.neg_log_perplexity(stats).item() == pytest.approx(-log_ppl.item(), rel=1e-5)
    want_zlib = -log_ppl.item() / len(zlib.compress(text.encode()))
    assert ds.zlib_ratio(stats, [text]).item() == pytest.approx(want_zlib, rel=1e-5)
    assert ds.lowercase_ratio(stats, lower).item() == pytest.approx(-(log_ppl / lower_log_ppl).item(), rel=1e-5)


def test_dc_pdd_equals_hand_computed_value_over_first_occurrences(model, tok, freq):
    text = TEXTS[2]  # repeated tokens: only first occurrences count
    targets, logp = _full_log_probs(model, tok, text)
    f = (freq.counts.double() + 1) / (freq.counts.sum() + freq.vocab_size)
    seen, terms = set(), []
    for i, t in enumerate(targets.tolist()):
        if t not in seen:
            seen.add(t)
            terms.append(min(logp[i, t].exp().item() * -math.log(f[t].item()), 0.01))
    assert len(terms) < len(targets)
    stats = token_stats(model, tok, [text])
    got = dc_pdd_score(stats, freq.probabilities().log(), 0.01)
    assert got.item() == pytest.approx(sum(terms) / len(terms), rel=1e-4)


def test_clip_bounds_every_term(model, tok, freq):
    stats = token_stats(model, tok, TEXTS)
    log_f = freq.probabilities().log()
    tiny = dc_pdd_score(stats, log_f, 1e-9)
    assert torch.allclose(tiny, torch.full_like(tiny, 1e-9))
    loose, tight = dc_pdd_score(stats, log_f, 1e9), dc_pdd_score(stats, log_f, 0.01)
    assert bool((tight <= loose + 1e-9).all()) and bool((tight <= 0.01 + 1e-9).all())


def test_frequency_smoothing_and_round_trip(tok, freq, tmp_path):
    p = freq.probabilities()
    assert p.sum().item() == pytest.approx(1.0) and bool((p > 0).all())
    assert freq.total == sum(len(ids) for ids in tok(TEXTS * 2 + ["a b c d e f g"])["input_ids"])
    back = TokenFrequency.load(freq.save(tmp_path / "f.safetensors"))
    assert torch.equal(back.counts, freq.counts) and back.metadata == freq.metadata
    capped = TokenFrequency.from_texts(tok, [TEXTS[0]], vocab_size=len(tok), max_tokens=3)
    assert capped.total == 3
    with pytest.raises(ValueError, match="empty"):
        TokenFrequency.from_texts(tok, [], vocab_size=len(tok))
    with pytest.raises(ValueError, match="outside"):
        TokenFrequency.from_texts(tok, TEXTS, vocab_size=10)


def test_pipeline_matches_functions_and_gives_baselines(model, tok, freq):
    pipe = transformers.pipeline("membership-inference", model=model, tokenizer=tok, reference_frequency=freq)
    assert isinstance(pipe, DCPDDPipeline)
    out = pipe(TEXTS, baselines=True)
    stats = token_stats(model, tok, TEXTS, logp_std=True)
    want = dc_pdd_score(stats, freq.probabilities().log(), 0.01)
    for row, w, mpp in zip(out, want, ds.min_k_plus_plus(stats, 0.2)):
        assert set(row) == {"score", "num_tokens", "neg_log_ppl", "zlib", "lowercase", "min_k", "min_k_plus_plus"}
        assert row["score"] == pytest.approx(w.item(), abs=1e-6)
        assert row["min_k_plus_plus"] == pytest.approx(mpp.item(), abs=1e-5)
    assert set(pipe(TEXTS[0])) == {"score", "num_tokens"}


def test_memorised_texts_score_as_members(tok, freq):
    """The property DC-PDD relies on: texts the model was trained on get high probabilities on their (rarer) tokens,
    so they score above unseen texts of the same kind."""
    torch.manual_seed(0)
    model = tiny_model("llama", vocab_size=len(tok)).train()
    members = ["alpha beta gamma delta epsilon zeta", "one two three four five six seven"]
    others = ["red green blue yellow purple orange", "north south east west up down left"]
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = tok(members, return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    for _ in range(60):
        loss = model(**batch, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    pipe = DCPDDPipeline(model=model, tokenizer=tok, reference_frequency=freq, config=DCPDDConfig(clip=1e9))
    scores = [r["score"] for r in pipe(members + others)]
    assert min(scores[:2]) > max(scores[2:])


def test_errors(model, tok, freq):
    with pytest.raises(ValueError, match="covers"):
        DCPDDPipeline(model=model, tokenizer=tok, reference_frequency=TokenFrequency(torch.ones(5, dtype=torch.long)))
    big = tiny_model("llama", vocab_size=4 * len(tok))
    with pytest.raises(ValueError, match="not this model's tokenizer"):
        DCPDDPipeline(model=big, tokenizer=tok, reference_frequency=freq)
    with pytest.raises(TypeError, match="reference_frequency"):
        DCPDDPipeline(model=model, tokenizer=tok, reference_frequency=[1, 2])
    pipe = DCPDDPipeline(model=model, tokenizer=tok, reference_frequency=freq)
    with pytest.raises(ValueError, match="non-empty"):
        pipe("")
    with pytest.raises(ValueError, match="needs at least 2"):
        pipe("a")
    for bad in ({"clip": 0}, {"k": 1.5}, {"max_tokens": 0}):
        with pytest.raises(ValueError):
            DCPDDConfig(**bad)


def test_demo_scores_the_prompt(model, tok, monkeypatch):
    from hf_tokens.pipelines.dc_pdd import demo as mod

    monkeypatch.setattr(
        mod.TokenFrequency,
        "from_corpora",
        classmethod(lambda cls, t, **kw: mod.TokenFrequency.from_texts(t, TEXTS, vocab_size=kw["vocab_size"])),
    )
    out = mod.demo(model, tok, TEXTS[0], 4)
    assert out["text"] == "" and out["new_tokens"] == 0 and 0 < out["dc_pdd_score"] <= 0.01
    assert {"min_k_plus_plus", "zlib", "lowercase"} <= set(out)
