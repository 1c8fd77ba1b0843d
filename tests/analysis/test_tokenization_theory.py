"""Markov sources (analytic vs empirical entropy rate), the BPE dictionary and the per-character scoring of the
tokenization-theory experiment (arXiv:2404.08335)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hf_tokens.analysis.tokenization_theory import (
    MarkovSource,
    MarkovSourceConfig,
    TokenizationTheoryConfig,
    TokenizationTheoryReport,
    run_experiment,
    train_bpe,
)
from hf_tokens.analysis.tokenization_theory.experiment import (
    _encode,
    bits_per_char,
    escape_step,
    plateau_share,
)


def _h(p: float) -> float:
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_switch_source_closed_forms(order):
    p, q = 0.1, 0.3
    source = MarkovSource(order=order, p=p, q=q)
    pi1 = p / (p + q)
    assert source.unigram()[1] == pytest.approx(pi1, abs=1e-9)
    assert source.entropy_rate() == pytest.approx((1 - pi1) * _h(p) + pi1 * _h(q), abs=1e-9)
    assert source.unigram_entropy() == pytest.approx(_h(pi1), abs=1e-9)
    assert source.entropy_rate() < source.unigram_entropy()


@pytest.mark.parametrize(
    "config",
    [
        MarkovSourceConfig(order=3, p=0.1, q=0.2),
        MarkovSourceConfig(order=2, kind="random", alphabet_size=3, seed=1),
        MarkovSourceConfig(order=4, kind="random", alphabet_size=2, concentration=0.5, seed=2),
    ],
)
def test_empirical_entropy_rate_matches_the_analytic_rate(config):
    source = MarkovSource(config)
    sample = source.sample(200_000, seed=5)
    assert source.empirical_entropy_rate(sample) == pytest.approx(source.entropy_rate(), abs=0.01)
    # and the symbol frequencies match the stationary marginal
    freq = np.bincount(sample, minlength=source.alphabet_size) / sample.size
    np.testing.assert_allclose(freq, source.unigram(), atol=0.01)


def test_stationary_distribution_is_invariant():
    source = MarkovSource(order=2, kind="random", alphabet_size=3, seed=4)
    a, states = 3, 9
    nxt = np.zeros(states)
    for s in range(states):
        for x in range(a):
            nxt[(s * a + x) % states] += source.stationary[s] * source.transitions[s, x]
    np.testing.assert_allclose(nxt, source.stationary, atol=1e-12)


def test_wrong_context_order_gives_a_higher_empirical_rate():
    """A k=3 switch source looks memoryless to an order-1 estimate: the extra context is what carries information."""
    source = MarkovSource(order=3, p=0.1, q=0.2)
    sample = source.sample(50_000, seed=0)
    order1 = MarkovSource(order=1, p=0.1, q=0.2).empirical_entropy_rate(sample)
    assert order1 == pytest.approx(source.unigram_entropy(), abs=0.02)
    assert source.empirical_entropy_rate(sample) < order1 - 0.2


def test_bpe_is_lossless_and_learns_multi_symbol_tokens():
    source = MarkovSource(order=2, p=0.1, q=0.2)
    text = source.sample_text(20_000, seed=1)
    tok = train_bpe(text, source.alphabet, 16)
    ids, lengths = _encode(tok, text)
    assert tok.decode(ids.tolist()).replace(" ", "") == text
    assert int(lengths.sum()) == len(text) and float(lengths.float().mean()) > 2


class _Oracle(torch.nn.Module):
    """Logits = the source's true log-probabilities given the previous k symbols (uniform before k are seen)."""

    def __init__(self, source: MarkovSource):
        super().__init__()
        self.source = source

    def forward(self, input_ids):
        a, k = self.source.alphabet_size, self.source.order
        logp = torch.full((*input_ids.shape, a), -math.log(a))
        table = torch.log(torch.from_numpy(self.source.transitions)).float()
        for t in range(k - 1, input_ids.shape[1]):
            state = torch.zeros(input_ids.shape[0], dtype=torch.long)
            for j in range(t - k + 1, t + 1):
                state = state * a + input_ids[:, j]
            logp[:, t] = table[state]
        return SimpleNamespace(logits=logp)


def test_per_character_score_of_the_true_model_is_the_entropy_rate():
    source = MarkovSource(order=2, p=0.1, q=0.2)
    ids = torch.from_numpy(source.sample(40_000, seed=3))
    bpc = bits_per_char(_Oracle(source), ids, torch.ones_like(ids), seq_len=512)
    assert bpc == pytest.approx(source.entropy_rate(), abs=0.02)


def test_tiny_experiment_report_rows_and_round_trip():
    torch.manual_seed(0)
    config = TokenizationTheoryConfig(
        orders=[1], train_symbols=3000, test_symbols=600, context_symbols=64, bpe_vocab_size=8, hidden=16,
        layers=1, steps=2, batch_size=2,
    )  # fmt: skip
    report = run_experiment(config)
    assert {(r["order"], r["tokenizer"]) for r in report.rows} == {(1, "character"), (1, "bpe")}
    char, bpe = report.row(1, "character"), report.row(1, "bpe")
    assert char["chars_per_token"] == 1.0 and bpe["chars_per_token"] > 1.0
    assert char["seq_len"] == 64 and bpe["seq_len"] < 64
    for r in report.rows:
        assert r["excess_bits"] == pytest.approx(r["cross_entropy_bits"] - r["entropy_rate_bits"])
    assert TokenizationTheoryReport.from_dict(report.to_dict()).to_dict() == report.to_dict()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order": 0}, "order"),
        ({"kind": "hmm"}, "kind"),
        ({"p": 1.0}, "p must"),
        ({"kind": "random", "alphabet_size": 1}, "alphabet_size"),
        ({"concentration": 0}, "concentration"),
    ],
)
def test_bad_source_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MarkovSourceConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"orders": []}, "orders"),
        ({"orders": [9]}, "order"),
        ({"steps": 0}, "steps"),
        ({"test_symbols": 10}, "2 \\* context_symbols"),
        ({"bpe_vocab_size": 2}, "bpe_vocab_size"),
        ({"hidden": 30, "heads": 4}, "hidden"),
        ({"heads": 0}, "heads"),
        ({"architecture": "bert"}, "architecture"),
    ],
)
def test_bad_experiment_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TokenizationTheoryConfig(**kwargs)


def test_bad_sample_arguments():
    source = MarkovSource(order=2)
    with pytest.raises(ValueError, match="n must"):
        source.sample(0)
    with pytest.raises(ValueError, match="symbols must be in"):
        source.empirical_entropy_rate(np.array([0, 1, 2, 1, 0]))


def test_escape_step_is_the_first_window_mean_below_the_threshold():
    plateau = [1.0] * 30 + [0.9, 0.8, 0.7, 0.6] + [0.5] * 20
    step = escape_step(plateau, 0.86, window=4)
    # steps 29..32 (1.0, 0.9, 0.8, 0.7) average 0.85 < 0.86; steps 28..31 average 0.925
    assert step == 32
    assert escape_step([1.0] * 50, 0.86, window=4) is None
    assert escape_step([0.5] * 3, 0.86, window=4) is None  # fewer steps than one window


def test_plateau_share_counts_the_steps_at_the_unigram_loss():
    curve = [1.0] * 40 + [0.8] * 60
    # trailing means of 4: steps 3..39 sit at 1.0, steps 40..42 mix, steps 43..99 sit at 0.8
    means_at_unigram = 37  # steps 3..39
    assert plateau_share(curve, 1.0, window=4) == pytest.approx(means_at_unigram / 97)
    assert plateau_share([0.7] * 20, 1.0, window=4) == 0.0
    assert plateau_share([1.01] * 20, 1.0, window=4) == 1.0


@pytest.mark.parametrize("architecture", ["gpt2", "llama"])
def test_experiment_rows_carry_the_training_curve(architecture):
    config = TokenizationTheoryConfig(
        orders=[2], architecture=architecture, train_symbols=3000, test_symbols=600, context_symbols=64,
        bpe_vocab_size=8, hidden=16, heads=2, steps=20, batch_size=2,
    )  # fmt: skip
    report = run_experiment(config)
    for tokenizer in ("character", "bpe"):
        row = report.row(2, tokenizer)
        assert len(row["loss_curve_bits"]) == 10 and all(v > 0 for v in row["loss_curve_bits"])
        assert row["escape_step"] is None or 9 <= row["escape_step"] < 20
        assert 0.0 <= row["unigram_plateau_share"] <= 1.0
    # the character model starts from a uniform guess over 2 symbols: about 1 bit per character
    assert report.row(2, "character")["loss_curve_bits"][0] == pytest.approx(1.0, abs=0.3)
