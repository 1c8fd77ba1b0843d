"""register_attention: AttentionInterface + AttentionMaskInterface under hf_tokens_<id>, validated and idempotent."""

from __future__ import annotations

import pytest
import torch
from transformers import AttentionInterface, AutoModelForCausalLM
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface

from hf_tokens.attention import register_attention, registered_attention, unregister_attention
from hf_tokens.testing import tiny_model

KEY = "hf_tokens_test_register"


@pytest.fixture
def key():
    yield KEY
    if registered_attention(KEY) is not None:
        unregister_attention(KEY)


def _recording(masks):
    def attention(module, query, key, value, attention_mask, **kwargs):
        masks.append(attention_mask)
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)

    return attention


@pytest.mark.parametrize("kind", ["bool", "additive", "sdpa"])
def test_function_gets_the_mask_it_asked_for(key, kind):
    masks: list = []
    register_attention(key, _recording(masks), mask=kind)
    model = tiny_model("llama", attn_implementation=key)
    ref = tiny_model("llama")
    ids = torch.randint(2, 300, (1, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, ref(ids).logits, rtol=1e-5, atol=1e-5)
    assert len(masks) == model.config.num_hidden_layers
    if kind == "sdpa":  # plainly causal without padding: sdpa's mask builder skips the mask
        assert all(m is None for m in masks)
    else:
        mask = masks[0]
        assert mask.shape == (1, 1, 9, 9)
        visible = mask if kind == "bool" else mask == 0
        assert mask.dtype == (torch.bool if kind == "bool" else torch.float32)
        assert torch.equal(visible[0, 0], torch.ones(9, 9, dtype=torch.bool).tril())


def test_from_pretrained_and_set_attn_implementation(key, tmp_path):
    masks: list = []
    fn = _recording(masks)
    assert register_attention(key, fn) == key
    base = tiny_model("llama")
    base.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation=key)
    assert loaded.config._attn_implementation == key
    base.set_attn_implementation(key)
    assert base.config._attn_implementation == key
    ids = torch.randint(2, 300, (2, 7), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, base(ids).logits, rtol=0, atol=0)
    assert len(masks) == 2 * base.config.num_hidden_layers and all(m is not None for m in masks)
    assert registered_attention(key) is fn


def test_idempotent_and_conflicts(key):
    def one(*args, **kwargs):
        return sdpa_attention_forward(*args, **kwargs)

    def other(*args, **kwargs):
        return sdpa_attention_forward(*args, **kwargs)

    register_attention(key, one)
    register_attention(key, one)  # same function and mask: no-op
    assert AttentionInterface._global_mapping[key] is one
    with pytest.raises(ValueError, match="already registered"):
        register_attention(key, other)
    with pytest.raises(ValueError, match="already registered"):
        register_attention(key, one, mask="additive")
    assert AttentionInterface._global_mapping[key] is one  # nothing half-registered
    register_attention(key, other, replace=True)
    assert registered_attention(key) is other
    unregister_attention(key)
    assert key not in AttentionInterface._global_mapping and key not in AttentionMaskInterface._global_mapping
    assert registered_attention(key) is None
    with pytest.raises(KeyError, match="not registered"):
        unregister_attention(key)


@pytest.mark.parametrize(
    "name, error, match",
    [
        (3, TypeError, "str"),
        ("softplus", ValueError, "hf_tokens_"),
        ("hf_tokens_", ValueError, "hf_tokens_"),
        ("hf_tokens_Softplus", ValueError, "lowercase"),
        ("hf_tokens_a-b", ValueError, "lowercase"),
        ("org/hf_tokens_x", ValueError, "'/'"),
        ("hf_tokens_x:fn", ValueError, "':'"),
        ("sdpa", ValueError, "hf_tokens_"),
    ],
)
def test_bad_names(name, error, match):
    with pytest.raises(error, match=match):
        register_attention(name, sdpa_attention_forward)


def test_bad_function_and_mask(key):
    with pytest.raises(TypeError, match="fn"):
        register_attention(key, "sdpa")
    with pytest.raises(ValueError, match="mask"):
        register_attention(key, sdpa_attention_forward, mask="causal")
    assert key not in AttentionInterface._global_mapping
