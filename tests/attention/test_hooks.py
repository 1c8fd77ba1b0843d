"""observe_keys / AttentionCall: the sdpa call a tensor of keys enters is observed and can be replaced."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import Cache, DynamicLayer

from hf_tokens._compat import cache_kwarg
from hf_tokens.attention import AttentionCall, TrackedKeys, observe_keys
from hf_tokens.testing import tiny_model


class ObservingLayer(DynamicLayer):
    """A DynamicLayer whose keys report their attention call to ``handler`` (the test's observer)."""

    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    def update(self, key_states, value_states, *args, **kwargs):
        keys, values = super().update(key_states, value_states)
        return observe_keys(keys, self.handler, query_len=key_states.shape[-2]), values


def _cache(model, handler):
    return Cache(layers=[ObservingLayer(handler) for _ in range(model.config.num_hidden_layers)])


def _steps(model, cache, ids, n_decode=3, mask=None):
    outs = []
    with torch.no_grad():
        out = model(ids, attention_mask=mask, **{cache_kwarg(): cache})
        outs.append(out.logits)
        for _ in range(n_decode):
            nxt = out.logits[:, -1:].argmax(-1)
            if mask is not None:
                mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
            out = model(nxt, attention_mask=mask, **{cache_kwarg(): cache})
            outs.append(out.logits)
    return torch.cat(outs, dim=1)


def _ids(batch=2, length=12, seed=0):
    return torch.randint(2, 300, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_pass_through_handler_is_bit_identical_and_sees_every_call():
    model = tiny_model("llama")
    calls: list[AttentionCall] = []

    def handler(call):
        calls.append(call)
        return call.run()

    ids = _ids()
    ref = _steps(model, DynamicCache(config=model.config), ids)
    got = _steps(model, _cache(model, handler), ids)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    assert len(calls) == 4 * model.config.num_hidden_layers  # prefill + 3 decoding steps, every layer
    assert [c.query_len for c in calls[:: model.config.num_hidden_layers]] == [12, 1, 1, 1]


@pytest.mark.parametrize("padded", [False, True])
def test_probs_equal_eager_attention_weights(padded):
    """Probabilities on demand equal the weights transformers' eager attention computes (GQA, causal, padding)."""
    model = tiny_model("llama")
    eager = tiny_model("llama", attn_implementation="eager")
    ids, mask = _ids(), None
    if padded:
        mask = torch.ones_like(ids)
        mask[1, :4] = 0
    probs = []
    _steps(model, _cache(model, lambda call: (probs.append(call.probs()), call.run())[1]), ids, n_decode=2, mask=mask)
    heads, n_kv = model.config.num_attention_heads, model.config.num_key_value_heads
    with torch.no_grad():
        full = eager(ids, attention_mask=mask, output_attentions=True)
    prefill = [p.reshape(2, heads, 12, 12) for p in probs[: model.config.num_hidden_layers]]
    for layer, (ours, ref) in enumerate(zip(prefill, full.attentions)):
        real = slice(None) if not padded else slice(4, None)  # the eager weights of pad query rows are arbitrary
        torch.testing.assert_close(ours[1, :, real], ref[1, :, real], rtol=1e-5, atol=1e-6, msg=f"layer {layer}")
        torch.testing.assert_close(ours[0], ref[0], rtol=1e-5, atol=1e-6)
    decode = probs[model.config.num_hidden_layers]  # first decoding step: packed single-token layout
    assert decode.shape == (2, n_kv, heads // n_kv, 1, 13)
    torch.testing.assert_close(decode.sum(-1), torch.ones(2, n_kv, heads // n_kv, 1))
    if padded:
        assert (decode[1, ..., :4] == 0).all()


def test_handler_output_replaces_the_attention_output():
    model = tiny_model("llama")
    ids = _ids(seed=1)
    ref = _steps(model, DynamicCache(config=model.config), ids)
    zeros = _steps(model, _cache(model, lambda call: torch.zeros_like(call.run())), ids, n_decode=0)
    assert not torch.allclose(zeros, ref[:, :12], atol=1e-3)

    def hide_first_token(call):  # decoding steps run sdpa with their own mask
        if call.query_len > 1:
            return call.run()
        mask = torch.ones(1, 1, 1, call.keys.shape[2], dtype=torch.bool)
        mask[..., 0] = False
        return call.run(mask=mask)

    got = _steps(model, _cache(model, hide_first_token), ids)
    torch.testing.assert_close(got[:, :12], ref[:, :12], rtol=0, atol=0)
    assert not torch.allclose(got[:, 12:], ref[:, 12:], atol=1e-4)
    # the same as transformers' own attention with that token masked out while decoding
    cache, outs = DynamicCache(config=model.config), []
    with torch.no_grad():
        out = model(ids, **{cache_kwarg(): cache})
        for step in range(3):
            mask = torch.ones(2, 13 + step, dtype=torch.long)
            mask[:, 0] = 0
            out = model(got[:, 11 + step].argmax(-1, keepdim=True), attention_mask=mask, **{cache_kwarg(): cache})
            outs.append(out.logits)
    torch.testing.assert_close(torch.cat(outs, 1), got[:, 12:], rtol=1e-5, atol=1e-5)


def test_tracked_keys_stay_tracked_through_repeat_kv_and_are_plain_elsewhere():
    keys = torch.randn(1, 2, 5, 8)
    seen = []
    tracked = observe_keys(keys, lambda call: seen.append(call) or call.run(), query_len=5)
    assert isinstance(tracked, TrackedKeys) and torch.equal(tracked, keys)
    repeated = tracked[:, :, None].expand(1, 2, 2, 5, 8).reshape(1, 4, 5, 8)  # transformers' repeat_kv
    assert isinstance(repeated, TrackedKeys)
    assert type(tracked + 1) is torch.Tensor
    query = torch.randn(1, 4, 5, 8)
    out = F.scaled_dot_product_attention(query, repeated, torch.randn(1, 4, 5, 8), is_causal=True)
    assert out.shape == (1, 4, 5, 8) and len(seen) == 1
    call = seen[0]
    assert call.keys.shape == (1, 2, 5, 8) and type(call.keys) is torch.Tensor  # as observed, before the repeat
    assert call.grouped_query().shape == (1, 2, 2, 5, 8) and call.is_causal and call.scale == 8**-0.5
    causal = call.additive_mask()[0, 0]
    assert torch.equal(torch.isinf(causal), torch.ones(5, 5, dtype=torch.bool).triu(1))


def test_observe_keys_bad_input():
    with pytest.raises(TypeError, match="keys"):
        observe_keys(torch.randn(2, 5, 8), lambda c: c.run(), query_len=1)
    with pytest.raises(TypeError, match="handler"):
        observe_keys(torch.randn(1, 2, 5, 8), None, query_len=1)
    with pytest.raises(ValueError, match="query_len"):
        observe_keys(torch.randn(1, 2, 5, 8), lambda c: c.run(), query_len=0)


def test_probs_by_row_blocks_equal_all_rows():
    keys = torch.randn(2, 2, 7, 8)
    calls = []
    tracked = observe_keys(keys, lambda call: calls.append(call) or call.run(), query_len=7)
    mask = torch.ones(2, 1, 7, 7, dtype=torch.bool).tril()
    mask[1, ..., :2] = False
    F.scaled_dot_product_attention(torch.randn(2, 4, 7, 8), tracked, torch.randn(2, 2, 7, 8), mask, enable_gqa=True)
    call = calls[0]
    blocks = call.row_chunks(max_elements=2 * 4 * 7 * 3)  # three rows per block
    assert blocks == [slice(0, 3), slice(3, 6), slice(6, 7)]
    torch.testing.assert_close(torch.cat([call.probs(rows) for rows in blocks], dim=3), call.probs())
    assert (call.probs()[1, ..., 2:, :2] == 0).all() and (call.probs()[1, ..., :2, :] == 0).all()
