"""The Bigram-Backcopy task (arXiv 2410.13835): sequences follow the bigram except after a trigger, where the token
before the trigger is copied; BOS at position 0; the three arms train deterministically and learn; sink shares are
read per query type and handle ReLU rows that do not sum to one."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.analysis.active_dormant_heads.bigram_backcopy import (
    BigramBackcopy,
    ToyConfig,
    bb_report,
    build_model,
    train_arm,
)
from hf_tokens.analysis.active_dormant_heads.report import extreme_token_stats

TEXT = "the quick brown fox jumps over the lazy dog; a bad cat sat on the mat. " * 20 + "xyzqjvkwp!?"


@pytest.fixture(scope="module")
def task():
    return BigramBackcopy(TEXT, vocab=24, triggers=3)


def test_sequences_backcopy_after_triggers_and_follow_the_bigram_elsewhere(task):
    seq = task.sample(64, 40, torch.Generator().manual_seed(0))
    assert (seq[:, 0] == task.bos).all() and not task.is_trigger(seq[:, 1]).any()
    assert ((seq[:, 1:] >= 0) & (seq[:, 1:] < task.bos)).all()
    trig = task.is_trigger(seq[:, 1:-1])
    assert trig.any()
    assert torch.equal(seq[:, 2:][trig], seq[:, :-2][trig])  # backcopy
    prev, nxt = seq[:, 1:-1][~trig], seq[:, 2:][~trig]
    assert (task.transition[prev, nxt] > 0).all()  # every other step is a bigram step
    assert torch.equal(seq, task.sample(64, 40, torch.Generator().manual_seed(0)))


def test_triggers_are_the_most_frequent_characters(task):
    import collections

    top = [c for c, _ in collections.Counter(TEXT).most_common(3)]
    assert [task.chars[i] for i in task.triggers] == top
    assert torch.allclose(task.transition.sum(-1), torch.ones(task.vocab - 1))


def test_bad_task_settings_are_refused():
    with pytest.raises(ValueError, match="distinct characters"):
        BigramBackcopy("abc", vocab=24)
    with pytest.raises(ValueError, match="triggers must be in"):
        BigramBackcopy(TEXT, vocab=24, triggers=1)
    with pytest.raises(ValueError, match="non-empty str"):
        BigramBackcopy("", vocab=24)
    with pytest.raises(ValueError, match="hidden"):
        ToyConfig(hidden=30, heads=4)


@pytest.mark.parametrize("arm", ["softmax+adam", "relu+adam", "softmax+sgd"])
def test_each_arm_trains_deterministically_and_learns(task, arm):
    cfg = ToyConfig(hidden=32, length=24, steps=30, batch=8)
    _, losses = train_arm(task, cfg, arm)
    _, again = train_arm(task, cfg, arm)
    assert losses == again
    assert sum(losses[-5:]) / 5 < losses[0] - 0.3


def test_sink_share_reads_weights_of_rows_that_do_not_sum_to_one(task):
    model = build_model(task, ToyConfig(hidden=32, length=24), "relu").eval()
    ids = task.sample(1, 24, torch.Generator().manual_seed(1))[0]
    sink, drain, peak = extreme_token_stats(model, ids, torch.arange(24) >= 2)
    with torch.no_grad():
        out = model(input_ids=ids[None], output_attentions=True).attentions[0][0, 0, 2:].float()
    expected = (out[:, 0] / out.sum(-1).clamp_min(1e-12)).mean()
    assert sink[0][0] == pytest.approx(float(expected), rel=1e-5)
    assert len(drain) == 1 and len(peak) == 1
    report = bb_report(model, task, task.sample(4, 24, torch.Generator().manual_seed(2)))
    assert 0 <= report["sink_share_non_trigger"] <= 1 and 0 <= report["backcopy_accuracy"] <= 1
    with pytest.raises(ValueError, match="arm must be one of"):
        train_arm(task, ToyConfig(), "relu+sgd")
