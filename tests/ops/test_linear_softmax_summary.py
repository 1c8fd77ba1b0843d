"""``linear_softmax_summary`` equals the statistics of the materialised ``log_softmax(hidden @ W.T)``.

Tiny blocks (5 tokens x 64 vocabulary entries) make every case cross several blocks, so the online sums, the
running top-k merge and the rank threshold taken before the target's block are all exercised.
"""

from __future__ import annotations

import math

import pytest
import torch

from hf_tokens.ops.linear_cross_entropy import reference
from hf_tokens.ops.linear_cross_entropy.summary import linear_softmax_summary


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(reference, "DEFAULT_CHUNK_VOCAB", 64)
    monkeypatch.setattr(reference, "DEFAULT_BLOCK_ELEMENTS", 64 * 5)


def _logits(h, w, b=None, softcap=None, temperature=1.0):
    z = h.double() @ w.double().T
    if b is not None:
        z = z + b.double()
    if softcap is not None:
        z = softcap * torch.tanh(z / softcap)
    return z / temperature


def _oracle(z, t, zq=None):
    lp = z.log_softmax(-1)
    p = lp.exp()
    mu = (p * lp).sum(-1)
    out = {
        "logp": lp.gather(-1, t[..., None]).squeeze(-1),
        "entropy": -mu,
        "logp_var": (p * lp * lp).sum(-1) - mu**2,
        "rank": (z > z.gather(-1, t[..., None])).sum(-1) + 1,
        "lse": z.logsumexp(-1),
    }
    if zq is not None:
        q = zq.softmax(-1)
        out["cross_mean"] = (q * lp).sum(-1)
        out["cross_var"] = (q * lp * lp).sum(-1) - out["cross_mean"] ** 2
    return out


@pytest.mark.parametrize("softcap", [None, 3.0])
@pytest.mark.parametrize("bias", [False, True])
def test_matches_materialised_logits(softcap, bias):
    gen = torch.Generator().manual_seed(0)
    h, w = torch.randn(4, 7, 16, generator=gen), torch.randn(203, 16, generator=gen)
    b = torch.randn(203, generator=gen) if bias else None
    t = torch.randint(0, 203, (4, 7), generator=gen)
    hq, wq = torch.randn(4, 7, 24, generator=gen), torch.randn(203, 24, generator=gen)
    s = linear_softmax_summary(
        h, w, t, bias=b, softcap=softcap, temperature=0.7, variance=True, rank=True, topk=5, ref_hidden=hq,
        ref_weight=wq,
    )  # fmt: skip
    z = _logits(h, w, b, softcap, 0.7)
    want = _oracle(z, t, _logits(hq, wq, temperature=0.7))
    for name in ("logp", "entropy", "logp_var", "lse", "cross_mean", "cross_var"):
        torch.testing.assert_close(getattr(s, name).double(), want[name], rtol=1e-5, atol=2e-5, msg=name)
    assert torch.equal(s.rank, want["rank"])
    top_logp, top_ids = z.log_softmax(-1).topk(5, -1)
    assert torch.equal(s.topk_ids, top_ids)
    torch.testing.assert_close(s.topk_logp.double(), top_logp, rtol=1e-5, atol=2e-5)
    assert s.topk_ids.shape == (4, 7, 5) and s.logp.shape == (4, 7) and s.rank.dtype == torch.int64


def test_bf16_inputs_match_float32_of_the_same_values():
    gen = torch.Generator().manual_seed(1)
    h, w = torch.randn(9, 32, generator=gen).bfloat16(), (torch.randn(150, 32, generator=gen) / 4).bfloat16()
    t = torch.randint(0, 150, (9,), generator=gen)
    s = linear_softmax_summary(h, w, t, variance=True, rank=True, topk=3)
    want = _oracle(_logits(h.float(), w.float()), t)
    for name in ("logp", "entropy", "logp_var"):
        torch.testing.assert_close(getattr(s, name).double(), want[name], rtol=1e-5, atol=2e-5)
    assert torch.equal(s.rank, want["rank"])


def test_hand_computed_distribution():
    """p = (1/2, 1/4, 1/4): entropy 1.5 ln 2, Var[log p] = (ln 2)^2 / 4, ranks 1 and 2."""
    w = torch.eye(3)
    h = torch.tensor([[0.0, math.log(0.5), math.log(0.5)]] * 2)
    s = linear_softmax_summary(h, w, torch.tensor([0, 2]), variance=True, rank=True, topk=1)
    ln2 = math.log(2)
    torch.testing.assert_close(s.logp, torch.tensor([-ln2, -2 * ln2]))
    torch.testing.assert_close(s.entropy, torch.full((2,), 1.5 * ln2))
    torch.testing.assert_close(s.logp_var, torch.full((2,), ln2**2 / 4))
    assert s.rank.tolist() == [1, 2] and s.topk_ids.tolist() == [[0], [0]]


def test_skipped_statistics_are_none_and_empty_input_works():
    h, w = torch.randn(0, 8), torch.randn(20, 8)
    s = linear_softmax_summary(h, w, torch.zeros(0, dtype=torch.long), entropy=False, topk=2)
    assert s.logp.shape == (0,) and s.topk_ids.shape == (0, 2)
    assert s.entropy is None and s.logp_var is None and s.rank is None and s.cross_mean is None
    s = linear_softmax_summary(torch.randn(3, 8), w)
    assert s.logp is None and s.entropy.shape == (3,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"topk": 21}, "topk"),
        ({"topk": -1}, "topk"),
        ({"rank": True, "targets": None}, "rank=True needs targets"),
        ({"ref_hidden": torch.randn(3, 4)}, "both ref_hidden and ref_weight"),
        ({"ref_hidden": torch.randn(2, 4), "ref_weight": torch.randn(20, 4)}, "leading shape"),
        ({"ref_hidden": torch.randn(3, 4), "ref_weight": torch.randn(19, 4)}, "same vocabulary"),
        ({"targets": torch.tensor([0, 1, 20])}, "targets must lie"),
        ({"temperature": 0.0}, "temperature"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"targets": torch.tensor([0, 1, 2]), **kwargs}
    with pytest.raises(ValueError, match=match):
        linear_softmax_summary(torch.randn(3, 8), torch.randn(20, 8), **args)
