"""LandmarkCache (arXiv 2305.16300 at inference): block retrieval through the landmark scores, landmark insertion for
``generate``, the fine-tuning recipe's data and token, and errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hf_tokens._compat import cache_kwarg
from hf_tokens.attention.landmark import LandmarkAttentionConfig, register_landmark_attention
from hf_tokens.attention.landmark.cache import LandmarkCache, LandmarkCacheConfig
from hf_tokens.attention.landmark.generation import disable_landmark_insertion, enable_landmark_insertion, lay_out
from hf_tokens.attention.landmark.reference import landmark_attention_weights
from hf_tokens.attention.landmark.retrieval import retrieval_step
from hf_tokens.testing import tiny_model

BLOCK, LANDMARK = 3, 319  # tiny vocabulary: 320 ids, the last one is the landmark


def _model(top_k: int = 0):
    torch.manual_seed(0)
    model = tiny_model("llama", **LandmarkAttentionConfig(block_size=BLOCK, top_k=top_k).to_model_kwargs()).eval()
    model.config.landmark_token_id = LANDMARK
    return model


def _landmark_logits(model, laid: torch.Tensor, top_k: int) -> torch.Tensor:
    """Reference: one forward of the laid ids with the grouped-softmax attention function (no cache)."""
    model.set_attn_implementation(register_landmark_attention())
    model.config.landmark_top_k = top_k
    try:
        with torch.no_grad():
            return model(laid).logits
    finally:
        model.set_attn_implementation("sdpa")
        model.config.landmark_top_k = 0


def _decode_step(keys: torch.Tensor, values: torch.Tensor, query: torch.Tensor, top_k: int):
    """A LandmarkCache layer prefilled with all but the last of ``keys``/``values`` [B, H_kv, S, D] (blocks of
    BLOCK + landmark), then one decoding step of ``query``: ``(cache, output)``."""
    cache = LandmarkCache(_model().config, top_k=top_k)
    layer = cache.layers[0]
    tracked = layer.update(keys[:, :, :-1], values[:, :, :-1])[0]
    F.scaled_dot_product_attention(
        torch.zeros(1, 1, keys.shape[2] - 1, keys.shape[3]), tracked, values, is_causal=True
    )
    tracked = layer.update(keys[:, :, -1:], values[:, :, -1:])[0]
    return cache, F.scaled_dot_product_attention(query, tracked, layer.values)


def test_grouped_retrieval_step_equals_the_materialised_weights():
    """retrieval_step reads each KV head in place for its query heads (9 query / 3 KV heads, as SmolLM2)."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(2, 9, 1, 8, generator=gen), torch.randn(2, 3, 29, 8, generator=gen), torch.randn(2, 3, 29, 8)
    mask = torch.ones(2, 1, 1, 29, dtype=torch.bool)
    mask[1, ..., :4] = False
    for top_k in (1, 3):
        want = landmark_attention_weights(q, k.repeat_interleave(3, 1), mask, scaling=0.3, period=4, top_k=top_k)
        got = retrieval_step(q, k, v, torch.tensor([0, 4]), scaling=0.3, period=4, top_k=top_k)
        torch.testing.assert_close(got, want @ v.repeat_interleave(3, 1), rtol=1e-5, atol=1e-5)


def test_retrieval_picks_the_block_holding_a_planted_key():
    """A query aligned with one block's landmark and a key inside it reads that block: its output is the planted
    value, values anywhere else do not matter, and the step reads own block + landmarks + one block."""
    gen = torch.Generator().manual_seed(1)
    period, n_blocks, dim = BLOCK + 1, 6, 16
    s_len = n_blocks * period + 2  # 6 full blocks, the query in a 7th
    keys = 0.1 * torch.randn(1, 1, s_len, dim, generator=gen)
    values = torch.randn(1, 1, s_len, dim, generator=gen)
    direction = torch.zeros(dim)
    direction[0] = 1.0
    target = 2  # the planted block
    keys[0, 0, target * period + 1] = 8 * direction  # the planted key
    keys[0, 0, target * period + BLOCK] = 8 * direction  # its landmark, which points at it
    values[0, 0, target * period + 1] = 5.0
    query = (4 * direction).view(1, 1, 1, dim)
    cache, out = _decode_step(keys, values, query, top_k=1)
    assert float(out[0, 0, 0].mean()) > 4.0  # almost all weight on the planted value (5.0 everywhere)
    outside = torch.ones(s_len, dtype=torch.bool)
    outside[target * period : target * period + BLOCK] = False  # the retrieved block's regular tokens
    outside[n_blocks * period :] = False  # the query's own block
    _, out2 = _decode_step(keys, values.masked_fill(outside[None, None, :, None], 0.0), query, top_k=1)
    torch.testing.assert_close(out2, out)
    assert cache.steps == 1 and cache.attended == 2 + n_blocks + BLOCK  # own block, 6 landmarks, 1 block


@pytest.mark.parametrize("top_k", [0, 50])
def test_all_blocks_equals_the_full_landmark_attention(top_k):
    """k >= the number of blocks (or 0) is the full grouped softmax: prefill, chunks and one-token steps through
    the cache give the logits of one forward over the laid ids with the landmark attention function."""
    model = _model()
    ids = torch.randint(2, 300, (2, 23), generator=torch.Generator().manual_seed(2))
    laid, keep = lay_out(ids, 0, BLOCK, LANDMARK)
    want = _landmark_logits(model, laid, top_k=0)[:, keep]
    enable_landmark_insertion(model)
    cache = LandmarkCache(model.config, top_k=top_k)
    with torch.no_grad():
        parts = [
            model(ids[:, :7], **{cache_kwarg(): cache}).logits,
            model(ids[:, 7:12], **{cache_kwarg(): cache}).logits,
        ]
        parts += [model(ids[:, t : t + 1], **{cache_kwarg(): cache}).logits for t in range(12, 23)]
    torch.testing.assert_close(torch.cat(parts, 1), want, rtol=1e-4, atol=1e-4)
    assert cache.get_seq_length() == laid.shape[1] and cache.regular_tokens == 23
    disable_landmark_insertion(model)


def test_retrieval_through_the_cache_equals_the_attention_function_with_top_k():
    """With top_k=1 the cache's steps equal the attention function's per-query retrieval on the laid ids."""
    model = _model()
    ids = torch.randint(2, 300, (1, 26), generator=torch.Generator().manual_seed(3))
    laid, keep = lay_out(ids, 0, BLOCK, LANDMARK)
    want = _landmark_logits(model, laid, top_k=1)[:, keep]
    enable_landmark_insertion(model)
    cache = LandmarkCache(model.config, top_k=1, max_elements=40)  # several row blocks in the prefill
    with torch.no_grad():
        parts = [model(ids[:, :10], **{cache_kwarg(): cache}).logits]
        parts += [model(ids[:, t : t + 1], **{cache_kwarg(): cache}).logits for t in range(10, 26)]
    torch.testing.assert_close(torch.cat(parts, 1), want, rtol=1e-4, atol=1e-4)
    assert 0 < cache.attended_fraction < 1
    disable_landmark_insertion(model)


def test_generate_inserts_landmarks_and_equals_greedy_on_the_laid_text():
    """model.generate with the cache: greedy tokens equal a greedy loop over full forwards of the laid sequence,
    and no landmark is ever emitted."""
    model = _model()
    prompt = torch.randint(2, 300, (1, 8), generator=torch.Generator().manual_seed(4))
    seq = prompt
    for _ in range(9):
        laid, keep = lay_out(seq, 0, BLOCK, LANDMARK)
        nxt = _landmark_logits(model, laid, top_k=2)[:, keep][:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], 1)
    enable_landmark_insertion(model)
    out = model.generate(
        prompt, **{cache_kwarg(): LandmarkCache(model.config, top_k=2)}, max_new_tokens=9, do_sample=False
    )
    disable_landmark_insertion(model)
    assert out.tolist() == seq.tolist() and LANDMARK not in out.tolist()[0]


def test_lay_out_counts_the_regular_tokens_already_seen():
    laid, keep = lay_out(torch.tensor([[5, 6, 7, 8]]), 2, BLOCK, LANDMARK)
    assert laid.tolist() == [[5, LANDMARK, 6, 7, 8, LANDMARK]] and keep.tolist() == [1, 2, 3, 5]


def test_errors_name_the_argument():
    model = _model()
    with pytest.raises(ValueError, match=r"budget=1\.0"):
        LandmarkCache(model.config, budget=0.5)
    with pytest.raises(ValueError, match="landmark_block_size"):
        LandmarkCache(model.config, block_size=5)
    with pytest.raises(TypeError, match="top_k"):
        LandmarkCacheConfig(top_k=1.5)
    plain = tiny_model("llama").eval()
    with pytest.raises(ValueError, match="landmark_block_size"):
        LandmarkCache(plain.config)
    with pytest.raises(ValueError, match="landmark_token_id"):
        enable_landmark_insertion(plain)
    enable_landmark_insertion(model)
    padded = {"input_ids": torch.tensor([[1, 5, 6]]), "attention_mask": torch.tensor([[0, 1, 1]])}
    with pytest.raises(ValueError, match="padding"):
        model(**padded, **{cache_kwarg(): LandmarkCache(model.config)})
    disable_landmark_insertion(model)
    model(**padded)  # no hooks left: a plain call works


def test_finetune_adds_the_token_trains_only_what_it_should_and_never_targets_a_landmark():
    from hf_tokens.attention.landmark.finetune import add_landmark_token, finetune_landmarks, landmark_loss
    from hf_tokens.models.lm_training import TrainingBudget
    from hf_tokens.testing import tiny_tokenizer

    model, tokenizer = tiny_model("llama", vocab_size=320), tiny_tokenizer(320)
    config = LandmarkAttentionConfig(block_size=4, top_k=2)
    token = add_landmark_token(model, tokenizer, config)
    assert token == 320 and model.get_input_embeddings().weight.shape[0] == 321
    assert add_landmark_token(model, tokenizer, config) == token  # idempotent
    assert model.config.landmark_token_id == token and model.config.landmark_block_size == 4
    ids = torch.randint(2, 300, (400,), generator=torch.Generator().manual_seed(5))
    windows = ids[:17][None]  # 16 regular tokens + 1
    model.set_attn_implementation(register_landmark_attention())
    laid = lay_out(windows[:, :-1], 0, 4, token)[0]  # 16 regular tokens + 4 landmarks
    loss = landmark_loss(model, windows, block_size=4, landmark_id=token)
    targets = laid[0, 1:].masked_fill(laid[0, 1:] == token, -100)  # a landmark is never a target
    manual = F.cross_entropy(model(laid).logits[0, :-1], targets)
    torch.testing.assert_close(loss, manual)
    assert int((targets == -100).sum()) == 4
    mlp_before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    attn_before = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    budget = TrainingBudget(steps=3, batch_size=2, lr=1e-2, warmup=1)
    losses = finetune_landmarks(
        model, ids, config=config, landmark_id=token, length=16, budget=budget, train="attention"
    )
    assert len(losses) == 3 and all(p.requires_grad for p in model.parameters())
    assert torch.equal(model.model.layers[0].mlp.up_proj.weight, mlp_before)  # frozen
    assert not torch.equal(model.model.layers[0].self_attn.q_proj.weight, attn_before)  # trained
    assert model.config.landmark_top_k == 2  # the inference setting is written back
    with pytest.raises(ValueError, match="multiple of block_size"):
        finetune_landmarks(model, ids, config=config, landmark_id=token, length=18, budget=budget)
    with pytest.raises(ValueError, match="train"):
        finetune_landmarks(model, ids, config=config, landmark_id=token, length=16, budget=budget, train="mlp")
    once = finetune_landmarks(model, ids, config=config, landmark_id=token, length=16, budget=budget, seconds=0)
    assert len(once) == 1  # the wall-clock cap stops after the first step
