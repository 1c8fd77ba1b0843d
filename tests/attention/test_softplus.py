"""Softplus attention (LSSA) and re-weighting (LSSAR), arXiv 2501.13428: the properties the paper relies on."""

from __future__ import annotations

import math
import tempfile

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM

from hf_tokens.attention.softplus.attention import (
    _make_kernel_inputs,
    contract,
    softplus_attention,
    softplus_attention_op,
)
from hf_tokens.attention.softplus.config import SoftplusAttentionConfig
from hf_tokens.attention.softplus.reference import reweight, softplus_attention_weights
from hf_tokens.testing import tiny_model
from tests.suites import test_attention_contract as suite


def _qk(seed=0, heads=2, q_len=9, s_len=9, dim=16):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(2, heads, q_len, dim, generator=gen)
    k = torch.randn(2, heads, s_len, dim, generator=gen)
    mask = torch.ones(s_len, s_len, dtype=torch.bool).tril()[-q_len:][None, None].repeat(2, 1, 1, 1)
    mask[1, ..., :3] = False  # left padding of row 1
    return q, k, mask


@pytest.mark.parametrize("power", [0.0, 3.0, 15.0])
def test_softplus_l1_rows_sum_to_one_and_masked_keys_get_nothing(power):
    q, k, mask = _qk()
    w = softplus_attention_weights(q, k, mask, scaling=0.25, reweight_power=power)
    seen = mask.expand_as(w).any(-1)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1)[seen], torch.ones(int(seen.sum())), rtol=0, atol=1e-6)
    assert (w.sum(-1)[~seen] == 0).all()  # a padding query (no visible key) gets zeros, not NaN
    assert (w[~mask.expand_as(w)] == 0).all()


def test_lssa_is_softplus_of_length_scaled_cosines():
    q, k, mask = _qk(q_len=5, s_len=9)
    w = softplus_attention_weights(q, k, mask, scaling=0.25)
    b, h, i = 0, 1, 2  # row 2 of the 5 queries is key position 6: it sees N = 7 keys
    n = int(mask[b, 0, i].sum())
    assert n == 7
    cos = F.cosine_similarity(q[b, h, i][None], k[b, h, :n], dim=-1)
    raw = F.softplus(math.log(16) * math.log(n) * cos)
    torch.testing.assert_close(w[b, h, i, :n], raw / raw.sum(), rtol=1e-6, atol=1e-7)


def test_exp_decomposition_is_softmax():
    q, k, mask = _qk()
    w = softplus_attention_weights(q, k, mask, scaling=0.25, phi="exp", qk_norm=False, length_scale=False)
    logits = (q @ k.transpose(-1, -2) * 0.25).masked_fill(~mask, float("-inf"))
    ref = torch.softmax(logits, -1).nan_to_num(0.0)
    torch.testing.assert_close(w, ref, rtol=1e-6, atol=1e-7)


def test_reweighting_keeps_the_ordering_and_sharpens():
    gen = torch.Generator().manual_seed(1)
    weights = torch.softmax(torch.randn(64, 50, generator=gen), -1)
    counts = torch.full((64, 1), 50.0)
    sharp = reweight(weights, counts, power=15.0, after=0, offset_rows=3)
    torch.testing.assert_close(sharp.sum(-1), torch.ones(64))
    i, j = torch.triu_indices(50, 50, 1)
    bigger = weights[:, i] > weights[:, j]
    assert (sharp[:, i][bigger] >= sharp[:, j][bigger]).all()  # never reverses an order
    above = weights > 1 / 50  # weights above the row mean keep a strict order
    for row in range(64):
        kept = weights[row][above[row]]
        assert torch.equal(kept.argsort(), sharp[row][above[row]].argsort())
    assert (sharp[~above] == 0).all()  # weights at or below the mean 1/N are removed
    assert (sharp.amax(-1) >= weights.amax(-1)).all()  # the top weight grows: a sharper row


def test_reweighting_only_after_a_length_and_uniform_rows_are_kept():
    q, k, mask = _qk(s_len=12, q_len=12)
    plain = softplus_attention_weights(q, k, mask, scaling=0.25)
    late = softplus_attention_weights(q, k, mask, scaling=0.25, reweight_power=15.0, reweight_after=6)
    counts = mask.sum(-1).expand(-1, 2, -1)
    torch.testing.assert_close(late[counts <= 6], plain[counts <= 6], rtol=0, atol=0)
    assert not torch.allclose(late[counts > 6], plain[counts > 6])
    uniform = torch.full((1, 8), 1 / 8)
    torch.testing.assert_close(reweight(uniform, torch.tensor([[8.0]]), power=15.0, after=0, offset_rows=3), uniform)


def test_reweighting_is_finite_at_long_rows():
    weights = torch.zeros(1, 8192)
    weights[0, 0] = 1.0  # all weight on one key: N * A = 8192, 8192 ** 15 overflows float32
    out = reweight(weights, torch.tensor([[8192.0]]), power=15.0, after=0, offset_rows=3)
    torch.testing.assert_close(out, weights)


@pytest.mark.parametrize("check", ["left_padding", "decoding", "grouped_query_heads"])
def test_lssar_p15_passes_the_fp32_suite_checks(check):
    lssar = {**contract(), "model_kwargs": SoftplusAttentionConfig(reweight_power=15.0).to_model_kwargs()}
    suite.CHECKS[check](lssar)


SETTINGS = [
    {},
    {"reweight_power": 0.0},
    {"phi": "exp", "qk_norm": False, "length_scale": False, "reweight_power": 0.0},
    {"phi": "exp", "reweight_after": 0},
    {"length_scale": False, "qk_norm": False, "reweight_power": 3.0},
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "lssar")
def test_triton_kernel_equals_reference(settings, dtype):
    args, kwargs = _make_kernel_inputs(dtype, seed=3)
    kwargs = {**kwargs, **settings}
    want = softplus_attention_op(*args, impl="reference", **kwargs)
    got = softplus_attention_op(*args, impl="triton", **kwargs)
    tol = {torch.float32: 1e-4, torch.bfloat16: 3e-2}[dtype]
    assert got.dtype == dtype
    torch.testing.assert_close(got.float(), want.float(), rtol=tol, atol=tol)


def test_triton_kernel_refuses_gradients():
    args, kwargs = _make_kernel_inputs(torch.float32, seed=0)
    args[0].requires_grad_(True)
    with pytest.raises(RuntimeError, match="forward-only"):
        softplus_attention_op(*args, impl="triton", **kwargs)


def test_reference_trains():
    model = tiny_model("llama", attn_implementation=contract()["key"])
    ids = torch.randint(2, 300, (2, 12))
    model.train()
    model(ids, labels=ids).loss.backward()
    grad = model.model.layers[0].self_attn.q_proj.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"phi": "relu"}, ValueError),
        ({"reweight_power": -1.0}, ValueError),
        ({"reweight_power": float("nan")}, ValueError),
        ({"reweight_after": -2}, ValueError),
        ({"qk_norm": "yes"}, TypeError),
        ({"impl": "cuda"}, ValueError),
    ],
)
def test_bad_config_is_rejected(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        SoftplusAttentionConfig(**kwargs)


def test_bad_inputs_are_rejected():
    (q, k, v, mask), _ = _make_kernel_inputs(torch.float32, seed=0)
    with pytest.raises(ValueError, match="multiple of KV heads"):
        softplus_attention_op(q[:, :3], k, v, mask)
    with pytest.raises(TypeError, match="bool"):
        softplus_attention_op(q, k, v, mask.float())
    with pytest.raises(TypeError, match=r"\.config"):
        softplus_attention(torch.nn.Linear(2, 2), q, k, v, mask)


def test_settings_travel_with_save_pretrained():
    key = contract()["key"]
    model = tiny_model(
        "llama", attn_implementation=key, **SoftplusAttentionConfig(reweight_power=15.0).to_model_kwargs()
    )
    ids = torch.randint(2, 300, (1, 10))
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        model.save_pretrained(folder)
        loaded = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=key)
        assert SoftplusAttentionConfig.from_model_config(loaded.config).reweight_power == 15.0
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)
        loaded.config.softplus_reweight_power = 0.0  # re-weighting switched off without a reload
        assert not torch.allclose(loaded(ids).logits, model(ids).logits)
