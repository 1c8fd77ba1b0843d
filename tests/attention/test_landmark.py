"""Landmark attention (arXiv 2305.16300): grouped softmax, the Triton kernel, retrieval, data layout, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hf_tokens.attention.landmark.attention import landmark_attention, landmark_attention_op
from hf_tokens.attention.landmark.config import LandmarkAttentionConfig
from hf_tokens.attention.landmark.data import insert_landmarks, landmark_labels, landmark_mask
from hf_tokens.attention.landmark.reference import landmark_attention_weights


def _qk(seed=0, heads=2, q_len=17, s_len=17, dim=8, pad=3):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(2, heads, q_len, dim, generator=gen)
    k = torch.randn(2, heads, s_len, dim, generator=gen)
    mask = torch.ones(s_len, s_len, dtype=torch.bool).tril()[-q_len:][None, None].repeat(2, 1, 1, 1)
    mask[1, ..., :pad] = False  # left padding of row 1
    return q, k, mask


def _brute_force(q, k, scaling, period):
    """The paper's formula written out key by key for one unpadded row: weights [H, q, S]."""
    heads, q_len, _ = q.shape
    s_len = k.shape[1]
    s = (q @ k.transpose(-1, -2)) * scaling
    w = torch.zeros(heads, q_len, s_len)
    for h in range(heads):
        for i in range(q_len):
            qi = s_len - q_len + i
            own = [j for j in range(qi + 1) if j // period == qi // period]
            marks = [j for j in range(qi + 1) if j // period < qi // period and j % period == period - 1]
            z = sum(torch.exp(s[h, i, j]) for j in own + marks)
            for j in own:
                w[h, i, j] = torch.exp(s[h, i, j]) / z
            for m in marks:
                block = [j for j in range(m - period + 1, m)]
                inner = sum(torch.exp(s[h, i, j]) for j in block)
                for j in block:
                    w[h, i, j] = torch.exp(s[h, i, m]) / z * torch.exp(s[h, i, j]) / inner
    return w


@pytest.mark.parametrize("q_len", [13, 1])
def test_grouped_softmax_is_the_papers_formula(q_len):
    q, k, mask = _qk(q_len=q_len, s_len=13, pad=0)
    w = landmark_attention_weights(q, k, mask, scaling=0.5, period=4)
    torch.testing.assert_close(w[0], _brute_force(q[0], k[0], 0.5, 4), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("top_k", [0, 1, 2])
def test_rows_sum_to_one_and_hidden_keys_get_nothing(top_k):
    q, k, mask = _qk()
    w = landmark_attention_weights(q, k, mask, scaling=0.4, period=4, top_k=top_k)
    assert (w >= 0).all()
    seen = mask.expand_as(w).any(-1)
    torch.testing.assert_close(w.sum(-1)[seen], torch.ones(int(seen.sum())), rtol=0, atol=1e-5)
    assert (w.masked_select(~mask.expand_as(w)) == 0).all()
    # landmarks of earlier blocks pass their weight to their block and keep none themselves
    pos = torch.arange(17)
    earlier_marks = (pos % 4 == 3)[None, :] & (pos[None, :] // 4 < pos[:, None] // 4)
    assert (w[0][:, earlier_marks] == 0).all()


def test_one_block_equals_causal_softmax_attention():
    q, k, mask = _qk()
    v = torch.randn(2, 1, 17, 8, generator=torch.Generator().manual_seed(5))
    out = landmark_attention_op(q, k[:, :1], v, mask, block_size=64, scaling=0.3)
    keys, values = k[:, :1].expand_as(q), v.expand_as(q)
    ref = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=0.3)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[1, :, 3:], ref[1, :, 3:], rtol=1e-5, atol=1e-5)  # the padded row's real rows


def test_left_padding_keeps_the_block_layout():
    q, k, mask = _qk(pad=3)
    q[1, :, 3:], k[1, :, 3:] = q[0, :, :14], k[0, :, :14]
    w = landmark_attention_weights(q, k, mask, scaling=0.4, period=4)
    alone = landmark_attention_weights(q[:1, :, :14], k[:1, :, :14], mask[:1, :, :14, :14], scaling=0.4, period=4)
    torch.testing.assert_close(w[1, :, 3:, 3:], alone[0], rtol=1e-5, atol=1e-6)


def test_grouped_softmax_trains():
    q, k, mask = _qk()
    q.requires_grad_(True)
    v = torch.randn(2, 2, 17, 8)
    out = landmark_attention_op(q, k, v, mask, block_size=3)
    out.square().sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0


def test_retrieval_picks_the_block_of_the_planted_key():
    """Six blocks of 4 + landmark; block 2's landmark (and one of its keys) is aligned with the query: with top_k=1
    the last query attends only to block 2 and its own block, and reads the planted value."""
    gen = torch.Generator().manual_seed(0)
    period, dim, s_len = 5, 16, 33
    k = torch.randn(1, 1, s_len, dim, generator=gen) * 0.1
    v = torch.zeros(1, 1, s_len, dim)
    direction = torch.zeros(dim)
    direction[0] = 1.0
    planted, landmark = 2 * period + 1, 3 * period - 1
    k[0, 0, planted] = k[0, 0, landmark] = 4 * direction
    v[0, 0, planted, 1] = 1.0
    q = (4 * direction).view(1, 1, 1, dim)
    w = landmark_attention_weights(q, k, None, scaling=1.0, period=period, top_k=1)
    pos = torch.arange(s_len)
    outside = (pos // period != 2) & (pos // period != (s_len - 1) // period)
    assert (w[0, 0, 0, outside] == 0).all()
    assert w[0, 0, 0, planted] > 0.9
    out = landmark_attention_op(q, k, v, None, block_size=period - 1, top_k=1, scaling=1.0)
    assert out[0, 0, 0, 1] > 0.9
    # top_k=1 attends to one block + the current one: at most 2 * period keys of 33
    assert int((w[0, 0, 0] > 0).sum()) <= 2 * period


def test_data_layout_and_labels():
    ids = torch.arange(10, 20).view(1, 10)
    laid = insert_landmarks(ids, 3, landmark_id=99)
    assert laid.tolist() == [[10, 11, 12, 99, 13, 14, 15, 99, 16, 17, 18, 99, 19]]
    labels = landmark_labels(laid, 3)
    assert (labels[0, landmark_mask(13, 3)] == -100).all() and (labels[0, ~landmark_mask(13, 3)] != -100).all()
    with pytest.raises(ValueError, match="must divide"):
        insert_landmarks(ids, 3, landmark_id=99, require_full_blocks=True)
    with pytest.raises(ValueError, match="block_size"):
        insert_landmarks(ids, 0, landmark_id=99)


def test_errors():
    q, k, mask = _qk()
    with pytest.raises(ValueError, match="block_size"):
        LandmarkAttentionConfig(block_size=0)
    with pytest.raises(ValueError, match="top_k"):
        LandmarkAttentionConfig(top_k=-1)
    with pytest.raises(ValueError, match="impl"):
        landmark_attention_op(q, k, k, mask, block_size=3, impl="cuda")
    with pytest.raises(ValueError, match="retrieval"):
        landmark_attention_op(q, k, k, mask, block_size=3, top_k=1, impl="triton")
    with pytest.raises(TypeError, match="bool"):
        landmark_attention_op(q, k, k, mask.float(), block_size=3)
    with pytest.raises(TypeError, match=r"\.config"):
        landmark_attention(torch.nn.Linear(2, 2), q.transpose(1, 2), k, k, mask)
    right = mask.clone()
    right[0, ..., -2:] = False  # right padding
    with torch.no_grad(), pytest.raises(ValueError, match="left padding"):
        landmark_attention_op(q, k, k, right, block_size=3, impl="triton")


def test_passkey_task_layout_and_attended_keys():
    from hf_tokens.attention.landmark.passkey import KEY_MARK, LANDMARK, QUERY_MARK, PasskeyTask, attended_per_step

    task = PasskeyTask(digits=2)
    ids, labels = task.sample(4, 21, 7, torch.Generator().manual_seed(0))
    assert ids.shape == labels.shape == (4, 24)
    assert (ids[:, landmark_mask(24, 7)] == LANDMARK).all() and (ids[:, ~landmark_mask(24, 7)] != LANDMARK).all()
    for row in range(4):
        regular = ids[row, ~landmark_mask(24, 7)]
        p = int((regular == KEY_MARK).nonzero()[0])
        assert regular[-3] == QUERY_MARK and regular[-2:].tolist() == regular[p + 1 : p + 3].tolist()
        assert labels[row][labels[row] != -100].tolist() == regular[-2:].tolist()
    # 4 blocks of 7 + landmark, last query in block 3 (position 31, its own block 8 keys): top-1 reads 8 + 3 + 7
    assert attended_per_step(32, 7, 1) == 18 and attended_per_step(32, 7, 0) == 32
    with pytest.raises(ValueError, match="length"):
        task.sample(1, 4, 7, torch.Generator())


@pytest.mark.parametrize("top_k", [1, 2, 5])
def test_retrieval_step_reads_only_the_kept_blocks_and_equals_the_full_formula(top_k):
    """A one-token step gathers the top-k blocks (decoding path) and equals the materialised weights' output."""
    from hf_tokens.attention.landmark.reference import landmark_attention_weights as weights
    from hf_tokens.attention.landmark.retrieval import retrieval_step

    gen = torch.Generator().manual_seed(top_k)
    s_len, period = 30, 4
    q = torch.randn(2, 3, 1, 8, generator=gen)
    k = torch.randn(2, 3, s_len, 8, generator=gen)
    v = torch.randn(2, 3, s_len, 8, generator=gen)
    mask = torch.ones(2, 1, 1, s_len, dtype=torch.bool)
    mask[1, ..., :5] = False
    want = weights(q, k, mask, scaling=0.5, period=period, top_k=top_k) @ v
    got = retrieval_step(q, k, v, torch.tensor([0, 5]), scaling=0.5, period=period, top_k=top_k)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    # values outside the kept blocks do not matter: zero the rest of the cache and get the same output
    w = weights(q, k, mask, scaling=0.5, period=period, top_k=top_k)
    read = w.abs().sum((1, 2)) > 0  # [B, S]: keys any head reads
    assert int(read[0].sum()) <= 3 * (period + top_k * (period - 1))
    torch.testing.assert_close(
        retrieval_step(
            q, k, v * read[:, None, :, None], torch.tensor([0, 5]), scaling=0.5, period=period, top_k=top_k
        ),
        got,
        rtol=1e-5,
        atol=1e-5,
    )


def test_cached_decoding_with_retrieval_equals_one_forward():
    from transformers import DynamicCache

    from hf_tokens._compat import cache_kwarg
    from hf_tokens.attention.landmark import register_landmark_attention
    from hf_tokens.testing import tiny_model

    torch.manual_seed(0)
    model = tiny_model(
        "llama",
        attn_implementation=register_landmark_attention(),
        **LandmarkAttentionConfig(block_size=3, top_k=1).to_model_kwargs(),
    ).eval()
    ids = torch.randint(2, 300, (2, 22), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        whole = model(ids).logits
        cache = DynamicCache(config=model.config)
        steps = [model(ids[:, :10], **{cache_kwarg(): cache}).logits]
        steps += [model(ids[:, t : t + 1], **{cache_kwarg(): cache}).logits for t in range(10, 22)]
    torch.testing.assert_close(torch.cat(steps, 1), whole, rtol=1e-4, atol=1e-4)
