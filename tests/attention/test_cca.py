"""CCA attention (arXiv 2412.12465): full attention at g = 1, the core-token pooling, causality, the reduced key
set, the chunked path and the Triton kernel against the oracle, cached decoding, and clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hf_tokens.attention.cca import CCAConfig, register_cca_attention
from hf_tokens.attention.cca.attention import cca_attention, cca_attention_op, cca_forward
from hf_tokens.attention.cca.reference import pool_cores, visibility
from hf_tokens.testing import tiny_model

IMPLS = ("reference", "chunked", "triton")


def _qkv(seed=0, batch=2, heads=4, kv_heads=2, s_len=23, dim=8, pad=4):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, s_len, dim, generator=gen)
    k = torch.randn(batch, kv_heads, s_len, dim, generator=gen)
    v = torch.randn(batch, kv_heads, s_len, dim, generator=gen)
    mask = torch.ones(s_len, s_len, dtype=torch.bool).tril()[None, None].repeat(batch, 1, 1, 1)
    if batch > 1:
        mask[1, ..., :pad] = False
    return q, k, v, mask


def _sdpa(q, k, v, mask):
    rep = q.shape[1] // k.shape[1]
    out = F.scaled_dot_product_attention(
        q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), attn_mask=mask | ~mask.any(-1, keepdim=True)
    )
    return out * mask.any(-1, keepdim=True)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("group_size, window", [(1, 1), (1, 5), (4, 23), (3, 100)])
def test_equals_full_causal_attention_with_groups_of_one_or_a_window_covering_everything(impl, group_size, window):
    q, k, v, mask = _qkv()
    got = cca_attention_op(q, k, v, mask, group_size=group_size, local_window=window, impl=impl)
    torch.testing.assert_close(got, _sdpa(q, k, v, mask), rtol=1e-5, atol=1e-5)


def test_a_core_token_is_its_group_weighted_by_the_last_tokens_attention():
    q, k, v, _ = _qkv(batch=1, heads=2, kv_heads=1, pad=0)
    core_k, core_v = pool_cores(q, k, v, torch.zeros(1, dtype=torch.long), None, group_size=5, scaling=0.3)
    assert core_k.shape == (1, 2, 23 // 5, 8)
    for h in range(2):
        for g in range(4):
            keys, vals = k[0, 0, 5 * g : 5 * g + 5], v[0, 0, 5 * g : 5 * g + 5]
            w = torch.softmax(q[0, h, 5 * g + 4] @ keys.T * 0.3, -1)
            torch.testing.assert_close(core_k[0, h, g], w @ keys, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(core_v[0, h, g], w @ vals, rtol=1e-5, atol=1e-6)


def test_a_query_sees_earlier_groups_cores_and_exactly_its_window():
    core, local = visibility(torch.tensor([0]), 40, 40, 40 // 4, group_size=4, local_window=8)
    t = 30
    assert local[0, t].nonzero().flatten().tolist() == list(range(23, 31))  # its 8 most recent tokens
    assert core[0, t].nonzero().flatten().tolist() == [0, 1, 2, 3, 4]  # groups ending at or before t - s = 22
    keys = core.sum(-1) + local.sum(-1)
    assert int(keys[0, -1]) == 8 + (39 - 8 + 1) // 4  # ~ t / g + s keys, not t


@pytest.mark.parametrize("impl", IMPLS)
def test_causal_future_tokens_change_nothing(impl):
    q, k, v, mask = _qkv(pad=0)
    out = cca_attention_op(q, k, v, mask, group_size=3, local_window=4, impl=impl)
    q2, k2, v2 = q.clone(), k.clone(), v.clone()
    for t in (q2, k2, v2):
        t[:, :, 15:] = torch.randn_like(t[:, :, 15:])
    out2 = cca_attention_op(q2, k2, v2, mask, group_size=3, local_window=4, impl=impl)
    torch.testing.assert_close(out[:, :, :15], out2[:, :, :15], rtol=0, atol=1e-6)
    assert not torch.allclose(out[:, :, 15:], out2[:, :, 15:])


@pytest.mark.parametrize("impl", ("chunked", "triton"))
@pytest.mark.parametrize("group_size, window", [(3, 4), (2, 7), (5, 2)])
def test_impls_equal_the_materialised_oracle_with_padding(impl, group_size, window):
    q, k, v, mask = _qkv(seed=3, s_len=29, pad=6)
    settings = {"group_size": group_size, "local_window": window}
    want = cca_attention_op(q, k, v, mask, impl="reference", **settings)
    got = cca_attention_op(q, k, v, mask, impl=impl, **settings)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_small_chunks_equal_one_chunk():
    from hf_tokens.attention.cca.reference import cca_attention_chunked

    q, k, v, mask = _qkv(seed=5, s_len=40, pad=3)
    pad = torch.tensor([0, 3])
    cores = pool_cores(q, k, v, pad, None, group_size=3, scaling=8**-0.5)
    runs = [
        cca_attention_chunked(q, k, v, mask, cores, pad, scaling=8**-0.5, group_size=3, local_window=5, chunk=c)
        for c in (1, 7, 64)
    ]
    for out in runs[1:]:
        torch.testing.assert_close(out, runs[0], rtol=1e-5, atol=1e-6)


def test_continuing_with_the_previous_cores_equals_one_call():
    q, k, v, mask = _qkv(seed=2, s_len=31, pad=5)
    whole = cca_attention_op(q, k, v, mask, group_size=3, local_window=4)
    first, past = cca_forward(q[:, :, :17], k[:, :, :17], v[:, :, :17], mask[:, :, :17, :17], group_size=3,
                              local_window=4)  # fmt: skip
    outs = [first]
    for t in range(17, 31):
        out, past = cca_forward(q[:, :, t : t + 1], k[:, :, : t + 1], v[:, :, : t + 1], mask[:, :, t : t + 1, : t + 1],
                                group_size=3, local_window=4, past=past)  # fmt: skip
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 2), whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("q_len", (1, 4, 16))
@pytest.mark.parametrize("group_size, window", [(3, 4), (2, 9), (4, 30)])
def test_a_decoding_step_of_few_queries_equals_the_oracle(q_len, group_size, window):
    from hf_tokens.attention.cca.reference import FEW_QUERIES, cca_attention_few_queries, cca_attention_reference

    assert q_len <= FEW_QUERIES  # the chunked path takes the few-queries path for these
    q, k, v, mask = _qkv(seed=7, s_len=33, pad=6)
    pad = torch.tensor([0, 6])
    cores = pool_cores(q, k, v, pad, None, group_size=group_size, scaling=8**-0.5)  # what the prefix's calls kept
    q, mask = q[:, :, -q_len:], mask[:, :, -q_len:]
    settings = {"scaling": 8**-0.5, "group_size": group_size, "local_window": window}
    want = cca_attention_reference(q, k, v, mask, cores, pad, **settings)
    torch.testing.assert_close(cca_attention_few_queries(q, k, v, mask, cores, pad, **settings), want, rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    got = cca_attention_op(q, k, v, mask, impl="chunked", past=cores, **settings)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_gradients_flow_through_the_chunked_path():
    q, k, v, mask = _qkv()
    for t in (q, k, v):
        t.requires_grad_(True)
    cca_attention_op(q, k, v, mask, group_size=3, local_window=4).sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (q, k, v))


def test_generate_with_a_cache_equals_greedy_by_full_forwards():
    model = tiny_model("llama", attn_implementation=register_cca_attention(),
                       **CCAConfig(group_size=3, local_window=4).to_model_kwargs())  # fmt: skip
    ids = torch.randint(2, 300, (1, 9), generator=torch.Generator().manual_seed(0))
    out = model.generate(ids, max_new_tokens=10, do_sample=False)
    seq = ids
    with torch.no_grad():
        for _ in range(10):
            nxt = model(seq, use_cache=False).logits[:, -1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)
    assert torch.equal(out, seq)


def test_smollm2_like_config_loads_by_from_pretrained(tmp_path):
    from transformers import AutoModelForCausalLM

    base = tiny_model("llama", **CCAConfig(group_size=2, local_window=3).to_model_kwargs())
    base.save_pretrained(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation=register_cca_attention())
    assert model.config.cca_group_size == 2 and model.config.cca_local_window == 3
    ids = torch.randint(2, 300, (1, 12))
    with torch.no_grad():
        a = model(ids).logits
        model.config.cca_group_size = 1
        b = model(ids).logits
        model.set_attn_implementation("sdpa")
        c = model(ids).logits
    torch.testing.assert_close(b, c, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(a, c, atol=1e-4)


def test_errors():
    q, k, v, mask = _qkv()
    with pytest.raises(ValueError, match="group_size"):
        CCAConfig(group_size=0)
    with pytest.raises(TypeError, match="local_window"):
        CCAConfig(local_window=2.5)
    with pytest.raises(ValueError, match="impl"):
        CCAConfig(impl="flash")
    right = mask.clone()
    right[0, ..., -3:] = False
    with pytest.raises(ValueError, match="left padding"):
        cca_attention_op(q, k, v, right, group_size=3, local_window=4)
    with pytest.raises(ValueError, match="core tokens"):  # queries continue a cache, no cores given
        cca_attention_op(q[:, :, -1:], k, v, mask[:, :, -1:], group_size=3, local_window=4)

    class Encoder(torch.nn.Module):
        is_causal = False

        def __init__(self):
            super().__init__()
            self.config = type("C", (), {})()

    with pytest.raises(TypeError, match="bidirectional"):
        cca_attention(Encoder(), q, k, v, mask)
    with pytest.raises(TypeError, match="config"):
        cca_attention(torch.nn.Linear(2, 2), q, k, v, mask)


def test_a_cache_prefilled_by_another_attention_is_refused():
    from transformers import DynamicCache

    from hf_tokens._compat import cache_kwarg

    model = tiny_model("llama", **CCAConfig(group_size=3, local_window=4).to_model_kwargs())
    ids = torch.randint(2, 300, (1, 8))
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        model(ids[:, :7], **{cache_kwarg(): cache})
        model.set_attn_implementation(register_cca_attention())
        with pytest.raises(ValueError, match="core tokens cover nothing"):
            model(ids[:, 7:], **{cache_kwarg(): cache})
