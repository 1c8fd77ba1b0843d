"""Zero-shot LLM-text test: the statistic's null distribution on the model's own samples (empirical type-I error
within the stated alpha), power against another model's text, the bounds' formulas, attribution, the baselines."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import transformers

from hf_tokens.analysis import detection_scores as ds
from hf_tokens.analysis import token_stats
from hf_tokens.pipelines.zero_shot_detection.pipeline import ZeroShotDetectionPipeline, attribute, decide
from hf_tokens.pipelines.zero_shot_detection.statistic import ZeroShotDetectionConfig, p_values, zero_shot_test
from hf_tokens.testing import tiny_model, tiny_tokenizer

N_TOKENS = 96


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer()


def _peaked(tok, seed):
    """A tiny model with a sharper head (entropy ~4 nats of log(320) = 5.8), so two seeds differ clearly."""
    model = tiny_model("llama", vocab_size=len(tok), seed=seed)
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(3.0)
    return model


@pytest.fixture(scope="module")
def model_a(tok):
    return _peaked(tok, 0)


@pytest.fixture(scope="module")
def model_b(tok):
    return _peaked(tok, 1)


def _samples(model, n_texts, seed):
    torch.manual_seed(seed)
    prompt = torch.randint(2, 300, (n_texts, 1))
    kw = {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": 1.0, "pad_token_id": 1}
    return model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=N_TOKENS,
                          min_new_tokens=N_TOKENS, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def own(model_a):
    return _samples(model_a, 40, seed=0)


@pytest.fixture(scope="module")
def other(model_b):
    return _samples(model_b, 20, seed=1)


@pytest.mark.parametrize("bound", ["hoeffding", "bernstein"])
def test_type_one_error_on_own_samples_within_alpha(model_a, own, bound):
    cfg = ZeroShotDetectionConfig(alpha=0.1, bound=bound)
    stats = token_stats(model_a, input_ids=own, logp_std=True)
    test = zero_shot_test(stats, cfg, model_a.config.vocab_size)
    assert test["reject"].double().mean().item() <= cfg.alpha
    # the statistic is centred: its mean over the model's own samples is close to 0 (a misaligned entropy is not)
    assert abs(test["statistic"].mean().item()) < 0.1


def test_bernstein_rejects_another_models_text(model_a, other):
    cfg = ZeroShotDetectionConfig(alpha=0.05, bound="bernstein")
    stats = token_stats(model_a, input_ids=other, logp_std=True)
    test = zero_shot_test(stats, cfg, model_a.config.vocab_size)
    assert test["statistic"].mean().item() > 1.0
    assert test["reject"].double().mean().item() >= 0.9


def test_hoeffding_p_value_formula():
    cfg = ZeroShotDetectionConfig(alpha=0.05, bound="hoeffding", max_token_nll=20.0)
    v, n, s = 1000, 200, 1.5
    got = p_values(torch.tensor([s, -s]), torch.tensor([n, n]), None, v, cfg)
    t = s - v * math.exp(-21.0)
    want = 2 * math.exp(-2 * n * t**2 / 400.0) + n * v * math.exp(-20.0)
    assert got.tolist() == pytest.approx([want, want], rel=1e-9)
    assert p_values(torch.tensor([0.0]), torch.tensor([n]), None, v, cfg).item() == 1.0
    with pytest.raises(ValueError, match="logp_std"):
        p_values(torch.tensor([s]), torch.tensor([n]), None, v, ZeroShotDetectionConfig(bound="bernstein"))


def test_p_value_shrinks_with_length_at_a_fixed_gap():
    cfg = ZeroShotDetectionConfig(bound="bernstein")
    ns = torch.tensor([64, 128, 256])  # (at much larger n the truncation cost n*V*exp(-c) takes over)
    p = p_values(torch.full((3,), 1.0), ns, ns * 4.0, 50000, cfg).tolist()
    assert all(a >= b for a, b in itertools.pairwise(p)) and p[-1] < 1e-3 < p[0]


def test_pipeline_and_baselines(model_a, tok):
    pipe = transformers.pipeline("llm-text-detection", model=model_a, tokenizer=tok)
    assert isinstance(pipe, ZeroShotDetectionPipeline)
    texts = ["The quick brown fox jumps over the lazy dog.", "def main():\n    return 0\n"]
    rows = pipe(texts, baselines=True)
    stats = token_stats(model_a, tok, texts, logp_std=True, rank=True)
    self_observed = ds.binoculars(token_stats(model_a, tok, texts, reference_model=model_a))
    for row, fd, lr, bino in zip(rows, ds.fast_detectgpt(stats), ds.log_rank(stats), self_observed):
        assert 0 <= row["p_value"] <= 1 and isinstance(row["reject"], bool)
        assert row["score"] == pytest.approx(-abs(row["log_perplexity"] - row["entropy"]), abs=1e-5)
        assert row["fast_detectgpt"] == pytest.approx(fd.item(), abs=1e-4)
        assert row["log_rank"] == pytest.approx(lr.item(), abs=1e-5)
        # one model as observer and performer: Binoculars = -log PPL / entropy
        assert row["binoculars"] == pytest.approx(-row["log_perplexity"] / row["entropy"], rel=1e-4)
        assert row["binoculars"] == pytest.approx(bino.item(), rel=1e-4)


def test_fast_detectgpt_and_binoculars_hand_computed(model_a, model_b, tok):
    text = "The quick brown fox jumps over the lazy dog."
    ids = tok(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        la = torch.log_softmax(model_a(ids).logits[0, :-1].double(), -1)
        lb = torch.log_softmax(model_b(ids).logits[0, :-1].double(), -1)
    y = ids[0, 1:]
    ll = la.gather(1, y[:, None])[:, 0]
    mu = (la.exp() * la).sum(-1)
    var = (la.exp() * la**2).sum(-1) - mu**2
    want_fd = (ll.sum() - mu.sum()) / var.sum().sqrt()
    stats = token_stats(model_a, tok, [text], logp_std=True, reference_model=model_b)
    assert ds.fast_detectgpt(stats).item() == pytest.approx(want_fd.item(), rel=1e-4)
    x_ppl = -(lb.exp() * la).sum(-1).mean()  # observer b's distribution, performer a's log-probs
    assert ds.binoculars(stats).item() == pytest.approx((ll.mean() / x_ppl).item(), rel=1e-4)


def test_attribution_between_two_models(model_a, model_b, tok, own, other):
    texts = torch.cat([own[:4], other[:4]])
    res = attribute(texts, {"a": (model_a, tok), "b": (model_b, tok)}, ZeroShotDetectionConfig(alpha=0.01))
    assert [r["source"] for r in res[:4]].count("a") >= 3 and [r["source"] for r in res[4:]].count("b") >= 3
    prompted = attribute(texts, {"a": (model_a, tok)}, continuation_start=40)  # the first 40 tokens: context only
    assert [r["source"] for r in prompted[:4]].count("a") >= 3
    assert decide({"a": [0.5, 0.001, 0.2], "b": [0.1, 0.002, 0.9]}, 0.01) == ["a", None, "b"]
    assert decide({"a": [1.0, 1.0], "b": [1.0, 1.0]}, 0.05, {"a": [0.3, -0.1], "b": [-0.2, 0.4]}) == ["b", "a"]
    with pytest.raises(ValueError, match="candidates"):
        attribute(["some text"], {})
    res = attribute(["The quick brown fox jumps over the lazy dog."], {"a": (model_a, tok)})
    assert set(res[0]["p_values"]) == {"a"}


def test_tokenizer_without_pad_token_is_not_modified(model_a):
    tok = tiny_tokenizer()
    tok.pad_token = None
    pipe = ZeroShotDetectionPipeline(model=model_a, tokenizer=tok)
    assert tok.pad_token is None and pipe.tokenizer.pad_token == tok.eos_token
    texts = ["The quick brown fox jumps over the lazy dog.", "Hello world!"]
    assert [r["statistic"] for r in pipe(texts, batch_size=2)] == pytest.approx([pipe(t)["statistic"] for t in texts])


def test_errors(model_a, tok):
    pipe = ZeroShotDetectionPipeline(model=model_a, tokenizer=tok)
    with pytest.raises(ValueError, match="needs at least 3"):
        pipe("a")
    with pytest.raises(TypeError):
        pipe(5)
    with pytest.raises(ValueError, match="not this model's tokenizer"):
        ZeroShotDetectionPipeline(model=tiny_model("llama", vocab_size=4 * len(tok)), tokenizer=tok)
    with pytest.raises(ValueError, match="vocabulary"):
        ZeroShotDetectionPipeline(model=model_a, tokenizer=tok, observer_model=tiny_model("llama", vocab_size=400))
    for bad in ({"alpha": 0}, {"alpha": 1.0}, {"bound": "chernoff"}, {"max_token_nll": 0.5}):
        with pytest.raises(ValueError):
            ZeroShotDetectionConfig(**bad)


def test_demo_tests_prompt_and_sample(model_a, tok):
    from hf_tokens.pipelines.zero_shot_detection.demo import demo

    torch.manual_seed(0)
    out = demo(model_a, tok, "The quick brown fox jumps over the lazy dog.", 24)
    assert out["new_tokens"] == 24 and 0 <= out["sample_p_value"] <= 1
    assert isinstance(out["prompt_rejected_as_not_from_model"], bool)
