"""Budgeted KV caches (H2O, EMS, TokenSelect, TidalDecode, sink baseline) on tiny Llama/Qwen2/Mistral models."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from transformers import DynamicCache

from hf_tokens._compat import cache_kwarg
from hf_tokens.attention.hooks import TrackedKeys
from hf_tokens.cache.base import BudgetedLayer, tiered_topk
from hf_tokens.cache.ems.cache import EMSCache
from hf_tokens.cache.h2o.cache import H2OCache
from hf_tokens.cache.sink.cache import SinkCache
from hf_tokens.cache.tidaldecode.cache import TidalDecodeCache
from hf_tokens.cache.tokenselect.cache import TokenSelectCache
from hf_tokens.testing import tiny_config, tiny_model

KW = cache_kwarg()  # `cache` since transformers 5.25, `past_key_values` before

ALL = (H2OCache, EMSCache, TokenSelectCache, TidalDecodeCache, SinkCache)
EVICTING = (H2OCache, EMSCache, SinkCache)


def _ids(length: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(2, 300, (batch, length), generator=gen)


def _steps(model, cache, ids: torch.Tensor, n_decode: int = 4) -> list[torch.Tensor]:
    """Prefill ``ids`` then ``n_decode`` greedy one-token steps; the logits of every forward."""
    outs = []
    with torch.no_grad():
        out = model(ids, **{KW: cache}, use_cache=True)
        outs.append(out.logits)
        for _ in range(n_decode):
            nxt = out.logits[:, -1:].argmax(-1)
            out = model(nxt, **{KW: cache}, use_cache=True)
            outs.append(out.logits)
    return outs


@pytest.mark.parametrize("cache_cls", ALL, ids=lambda c: c.__name__)
def test_full_budget_equals_dynamic_cache(llama_like_model, cache_cls):
    ids = _ids(24)
    ref = _steps(llama_like_model, DynamicCache(config=llama_like_model.config), ids)
    got = _steps(llama_like_model, cache_cls(llama_like_model.config, budget=1.0), ids)
    for a, b in zip(ref, got):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)


@pytest.mark.parametrize("cache_cls", EVICTING, ids=lambda c: c.__name__)
@pytest.mark.parametrize("budget", [8, 0.3])
def test_stored_tokens_never_exceed_budget(tiny_llama, cache_cls, budget):
    cache = cache_cls(tiny_llama.config, budget=budget)
    ids = _ids(30)
    seen = 0
    with torch.no_grad():
        out = tiny_llama(ids, **{KW: cache}, use_cache=True)
        seen += ids.shape[1]
        for _ in range(6):
            for layer in cache.layers:
                cap = budget if isinstance(budget, int) else -(-int(budget * seen * 1000) // 1000)
                assert layer.keys.shape[-2] <= cap and layer.values.shape[-2] <= cap
                assert layer.keys.shape[-2] == layer.values.shape[-2] == layer.positions.shape[-1]
            assert cache.get_seq_length() == seen
            out = tiny_llama(out.logits[:, -1:].argmax(-1), **{KW: cache}, use_cache=True)
            seen += 1
    # positions stayed right: the last query was rotated at position seen - 1, and the mask matched the stored length
    assert cache.get_mask_sizes(1, 0) == (cache.layers[0].keys.shape[-2] + 1, seen - cache.layers[0].keys.shape[-2])


def test_positions_after_eviction_match_explicit_position_ids(tiny_llama):
    """A decode step after eviction must use position ``seen`` (get_seq_length), not the stored length."""
    ids, nxt = _ids(20), torch.tensor([[5]])
    implicit_cache, explicit_cache = H2OCache(tiny_llama.config, budget=8), H2OCache(tiny_llama.config, budget=8)
    with torch.no_grad():
        tiny_llama(ids, **{KW: implicit_cache}, use_cache=True)
        tiny_llama(ids, **{KW: explicit_cache}, use_cache=True)
        assert implicit_cache.layers[0].keys.shape[-2] == 8
        implicit = tiny_llama(nxt, **{KW: implicit_cache}, use_cache=True).logits
        explicit = tiny_llama(nxt, **{KW: explicit_cache}, position_ids=torch.tensor([[20]])).logits
        wrong = H2OCache(tiny_llama.config, budget=8)
        tiny_llama(ids, **{KW: wrong}, use_cache=True)
        shifted = tiny_llama(nxt, **{KW: wrong}, position_ids=torch.tensor([[8]])).logits
    torch.testing.assert_close(implicit, explicit, rtol=0, atol=1e-6)
    assert not torch.allclose(implicit, shifted, atol=1e-4)


def _layer_with_heavy_token(cache_cls, **kwargs):
    """Feed 16 keys to layer 0; key 3 aligns with every query, so all attention goes to it (a heavy hitter)."""
    config = tiny_config("llama", num_hidden_layers=1)
    cache = cache_cls(config, **kwargs)
    layer = cache.layers[0]
    gen = torch.Generator().manual_seed(0)
    keys = torch.randn(1, 2, 16, 16, generator=gen) * 0.1
    direction = torch.randn(16, generator=gen)
    keys[:, :, 3] = direction * 3
    values = torch.randn(1, 2, 16, 16, generator=gen)
    query = direction.expand(1, 4, 16, 16) + torch.randn(1, 4, 16, 16, generator=gen) * 0.1
    k, v = layer.update(keys, values)
    assert isinstance(k, TrackedKeys)
    F.scaled_dot_product_attention(query, k, v, is_causal=True, enable_gqa=True)  # what sdpa attention does
    return layer


def test_h2o_keeps_heavy_hitter_sink_window_drops_it():
    h2o = _layer_with_heavy_token(H2OCache, budget=6, window=2)
    sink = _layer_with_heavy_token(SinkCache, budget=6, n_sink=2)
    assert h2o.keys.shape[-2] == sink.keys.shape[-2] == 6
    assert (h2o.positions == 3).any(-1).all(), h2o.positions
    assert not (sink.positions == 3).any(), sink.positions
    assert sink.positions[0, 0].tolist() == [0, 1, 12, 13, 14, 15]


def test_ems_merges_evicted_values_into_similar_kept_token():
    config = tiny_config("llama", num_hidden_layers=1)
    cache = EMSCache(config, budget=4, window=0, merge_threshold=0.99)
    layer = cache.layers[0]
    keys = torch.eye(16)[:5].expand(1, 2, 5, 16).clone()
    keys[:, :, 4] = keys[:, :, 0]  # token 4 duplicates token 0's key
    values = torch.arange(5.0)[:, None].expand(1, 2, 5, 16).clone()
    layer.update(keys, values)
    layer.acc = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.5]).expand(1, 2, 5).clone()  # token 4 is the least important
    layer.rows[..., 0] = layer.acc
    layer.pending = False
    layer.compress()
    assert layer.positions[0, 0].tolist() == [0, 1, 2, 3]
    merged = layer.values[0, 0, 0, 0].item()
    assert 0.0 < merged < 4.0  # token 0's value moved toward token 4's value (score-weighted average)
    torch.testing.assert_close(layer.values[0, 0, 1:, 0], torch.tensor([1.0, 2.0, 3.0]))
    assert layer.merged_tokens == 2  # one per head


def test_ems_zero_class_drops_dissimilar_tokens():
    config = tiny_config("llama", num_hidden_layers=1)
    cache = EMSCache(config, budget=4, window=0, merge_threshold=0.99)
    layer = cache.layers[0]
    keys = torch.eye(16)[:5].expand(1, 2, 5, 16).clone()  # all orthogonal: nothing to merge into
    values = torch.arange(5.0)[:, None].expand(1, 2, 5, 16).clone()
    layer.update(keys, values)
    layer.acc = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.5]).expand(1, 2, 5).clone()
    layer.rows[..., 0] = layer.acc
    layer.pending = False
    layer.compress()
    torch.testing.assert_close(layer.values[0, 0, :, 0], torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert layer.merged_tokens == 0


@pytest.mark.parametrize("cache_cls", ALL, ids=lambda c: c.__name__)
def test_left_padded_batch_equals_per_example(cache_cls):
    model = tiny_model("qwen2")
    a, b = _ids(20, seed=1), _ids(13, seed=2)
    ids = torch.cat([a, torch.cat([torch.full((1, 7), 1), b], 1)])
    mask = torch.ones_like(ids)
    mask[1, :7] = 0
    kw = {"max_new_tokens": 10, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    batched = model.generate(input_ids=ids, attention_mask=mask, **{KW: cache_cls(model.config, budget=9)}, **kw)
    for row, single in enumerate((a, b)):
        alone = model.generate(input_ids=single, **{KW: cache_cls(model.config, budget=9)}, **kw)
        torch.testing.assert_close(
            torch.stack(batched.scores, 1)[row], torch.stack(alone.scores, 1)[0], rtol=0, atol=1e-4
        )
        assert batched.sequences[row, -10:].tolist() == alone.sequences[0, -10:].tolist()


@pytest.mark.parametrize("cache_cls", EVICTING, ids=lambda c: c.__name__)
def test_pads_are_evicted_first(cache_cls):
    model = tiny_model("llama")
    ids = torch.cat([torch.full((1, 6), 1), _ids(12)], 1)
    mask = torch.ones_like(ids)
    mask[0, :6] = 0
    cache = cache_cls(model.config, budget=10)
    with torch.no_grad():
        model(input_ids=ids, attention_mask=mask, **{KW: cache})
    for layer in cache.layers:
        assert not layer.dead.any() and layer.positions.min() >= 6


@pytest.mark.parametrize("cache_cls", ALL, ids=lambda c: c.__name__)
def test_generate_sampling_and_beam_search(tiny_llama, cache_cls):
    """Full budget: sampling and beam search give DynamicCache's outputs; a real budget still runs to length."""
    ids = _ids(16)
    kw = {"max_new_tokens": 6, "min_new_tokens": 6}
    outputs = {}
    for name, make in (("dynamic", lambda b: DynamicCache(config=tiny_llama.config)), ("ours", None)):
        for budget in (1.0, 0.5):
            if name == "dynamic" and budget != 1.0:
                continue
            cache = make(budget) if make else cache_cls(tiny_llama.config, budget=budget)
            torch.manual_seed(0)
            sampled = tiny_llama.generate(ids, do_sample=True, top_k=20, **{KW: cache}, **kw)
            cache = make(budget) if make else cache_cls(tiny_llama.config, budget=budget)
            beams = tiny_llama.generate(ids, num_beams=3, num_return_sequences=2, do_sample=False,
                                        **{KW: cache}, **kw)  # fmt: skip
            outputs[(name, budget)] = (sampled, beams)
    for got, want in zip(outputs[("ours", 1.0)], outputs[("dynamic", 1.0)]):
        assert got.tolist() == want.tolist()
    sampled, beams = outputs[("ours", 0.5)]
    assert sampled.shape == (1, 22) and beams.shape == (2, 22)
    assert beams[:, :16].tolist() == [ids[0].tolist()] * 2


@pytest.mark.parametrize("budget", [9, 0.3])
@pytest.mark.parametrize("cache_cls", EVICTING, ids=lambda c: c.__name__)
def test_one_slot_eviction_keeps_what_ranking_keeps(monkeypatch, cache_cls, budget):
    """The one-token fast path (argmin, last slot moves into the hole) keeps the same tokens as ranking every slot."""
    model = tiny_model("llama")
    ids = _ids(24, seed=5)
    fast = cache_cls(model.config, budget=budget)
    fast_out = _steps(model, fast, ids, n_decode=8)
    calls = []

    def ranked(self, window, score):
        calls.append(1)
        self._evict_ranked(window, score, self.stored_tokens() - 1)

    monkeypatch.setattr(BudgetedLayer, "_evict_one", ranked)
    slow = cache_cls(model.config, budget=budget)
    slow_out = _steps(model, slow, ids, n_decode=8)
    assert calls  # the ranked path really replaced the fast one
    for a, b in zip(fast_out, slow_out):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    for f, r in zip(fast.layers, slow.layers):
        assert torch.equal(f.positions.sort(-1).values, r.positions)  # same tokens (ranked keeps position order)
        order = f.positions.argsort(-1)
        torch.testing.assert_close(f.values.gather(2, order[..., None].expand_as(f.values)), r.values)


def test_decoding_writes_into_preallocated_buffers(tiny_llama):
    """A budgeted layer holds capacity + 1 slots (plus a few spare) and writes each new token in place."""
    cache = H2OCache(tiny_llama.config, budget=8)
    ids = _ids(20)
    with torch.no_grad():
        out = tiny_llama(ids, **{KW: cache}, use_cache=True)
        out = tiny_llama(out.logits[:, -1:].argmax(-1), **{KW: cache}, use_cache=True)
        pointers = [layer.store.buffers["kv"].data_ptr() for layer in cache.layers]
        for _ in range(5):
            out = tiny_llama(out.logits[:, -1:].argmax(-1), **{KW: cache}, use_cache=True)
    for layer, pointer in zip(cache.layers, pointers):
        assert layer.store.buffers["kv"].data_ptr() == pointer and layer.keys.data_ptr() == pointer
        assert layer.store.capacity == 9 + BudgetedLayer.growth(9) and layer.keys.shape[-2] == 8
    slots = 9 + BudgetedLayer.growth(9)
    assert cache.stored_bytes == sum(2 * slots * layer.keys[0, :, 0].numel() * 4 for layer in cache.layers)
    selection = TokenSelectCache(tiny_llama.config, budget=8)
    _steps(tiny_llama, selection, ids, n_decode=5)
    assert all(layer.store.capacity >= 25 and layer.keys.shape[-2] == 25 for layer in selection.layers)


def test_selection_layout_equals_tiered_ranking(tiny_llama):
    """TokenSelect's contiguous-candidate selection equals ranking every slot by tier then votes."""
    cache = TokenSelectCache(tiny_llama.config, budget=10, window=3, n_sink=2, similarity_threshold=2.0)
    _steps(tiny_llama, cache, _ids(40), n_decode=1)
    layer = cache.layers[0]
    votes = torch.rand(1, layer.stored_tokens(), generator=torch.Generator().manual_seed(0))
    assert layer.layout() == (2, 3)
    fast = layer.top_tokens(votes)
    assert torch.equal(fast, tiered_topk(votes, layer.selection_tiers(), 10))
    assert fast[0, :2].tolist() == [0, 1] and fast[0, -3:].tolist() == [38, 39, 40]


def test_tokenselect_attends_to_at_most_budget_tokens_and_reuses_selection(tiny_llama):
    cache = TokenSelectCache(tiny_llama.config, budget=6, window=2, n_sink=1, similarity_threshold=-1.0)
    ids = _ids(30)
    outs = _steps(tiny_llama, cache, ids, n_decode=4)
    for layer in cache.layers:
        assert layer.keys.shape[-2] == 34  # keeps everything
        assert layer.last_attended == 6
        assert layer.reused == 3 and layer.selections == 4  # the first selection is computed, then reused
    never = TokenSelectCache(tiny_llama.config, budget=6, window=2, n_sink=1, similarity_threshold=2.0)
    _steps(tiny_llama, never, ids, n_decode=4)
    assert never.reuse_rate == 0.0
    dense = _steps(tiny_llama, DynamicCache(config=tiny_llama.config), ids, n_decode=4)
    assert not torch.allclose(outs[-1], dense[-1], atol=1e-4)  # the selection really changes the attention


def test_tokenselect_votes_only_on_candidates(tiny_llama):
    """Sinks, the recent window and the new token are attended anyway: every head's softmax covers the rest only."""
    cache = TokenSelectCache(tiny_llama.config, budget=8, window=3, n_sink=2, similarity_threshold=2.0)
    _steps(tiny_llama, cache, _ids(30), n_decode=1)
    heads = tiny_llama.config.num_attention_heads
    for layer in cache.layers:
        votes, positions = layer.votes[0], layer.positions[0, 0]
        always = (positions < 2) | (positions >= layer.seen - 3)
        assert (votes[always] == 0).all()
        torch.testing.assert_close(votes.sum(), torch.tensor(float(heads)))  # one unit of vote per head


def test_tokenselect_with_budget_selecting_all_matches_dense(tiny_llama):
    ids = _ids(20)
    dense = _steps(tiny_llama, DynamicCache(config=tiny_llama.config), ids)
    sel = _steps(tiny_llama, TokenSelectCache(tiny_llama.config, budget=64), ids)
    for a, b in zip(dense, sel):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)


def test_tidaldecode_sparse_layers_use_selected_positions():
    model = tiny_model("llama", num_hidden_layers=4)
    cache = TidalDecodeCache(model.config, budget=6, window=2, n_sink=1, selection_layers=(1,))
    _steps(model, cache, _ids(30), n_decode=2)
    attended = [layer.last_attended for layer in cache.layers]
    assert attended == [32, 32, 6, 6]  # dense, selection (dense), sparse, sparse
    assert cache.selected is not None and cache.selected.shape == (1, 6)
    assert cache.selection_layers == (1,)
    default = TidalDecodeCache(tiny_config("llama", num_hidden_layers=32), budget=0.1)
    assert default.selection_layers == (2, 13)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"budget": 0}, "budget"),
        ({"budget": -3}, "budget"),
        ({"budget": 0.0}, "budget"),
        ({"budget": 1.5}, "budget"),
        ({"budget": 8, "window": 9}, "window"),
        ({"budget": 0.2, "window": 4}, "window"),
        ({"budget": 8, "n_sink": -1}, "n_sink"),
    ],
)
@pytest.mark.parametrize("cache_cls", ALL, ids=lambda c: c.__name__)
def test_bad_budget_raises_value_error(tiny_llama, cache_cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cache_cls(tiny_llama.config, **kwargs)


def test_unsupported_model_and_method_options_raise():
    with pytest.raises(ValueError, match="model_type"):
        H2OCache(tiny_config("gpt2"), budget=0.2)
    with pytest.raises(ValueError, match="sliding"):
        H2OCache(tiny_config("mistral", sliding_window=16), budget=0.2)
    with pytest.raises(ValueError, match="merge_threshold"):
        EMSCache(tiny_config("llama"), budget=0.2, merge_threshold=2.0)
    with pytest.raises(ValueError, match="impl"):
        TokenSelectCache(tiny_config("llama"), budget=0.2, impl="cuda")
    with pytest.raises(ValueError, match="selection_layers"):
        TidalDecodeCache(tiny_config("llama"), budget=0.2, selection_layers=(5,))


def test_non_sdpa_attention_raises_clear_error():
    model = tiny_model("llama")
    cache = H2OCache(model.config, budget=8)
    model.set_attn_implementation("eager")
    with pytest.raises(ValueError, match="attn_implementation"):
        H2OCache(model.config, budget=8)
    with pytest.raises(RuntimeError, match="sdpa"):  # switched after the cache was built: caught at the next step
        model.generate(_ids(12), max_new_tokens=3, **{KW: cache})


_TRITON_CHECK = """
import torch
from hf_tokens.ops.qk_vote import qk_logits, qk_vote
torch.manual_seed(0)
for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 1e-2)):
    for b, h, hk, s, d in ((2, 9, 3, 77, 64), (1, 4, 4, 5, 48), (1, 4, 2, 130, 16)):
        q, k = torch.randn(b, h, d, dtype=dtype), torch.randn(b, hk, s, d, dtype=dtype)
        ref, tri = qk_logits(q, k, 0.125), qk_logits(q, k, 0.125, impl="triton")
        assert tri.shape == ref.shape == (b, h, s), tri.shape
        assert (ref - tri).abs().max() <= tol * max(1.0, ref.abs().max().item()), (dtype, b, h, hk, s, d)
k = torch.randn(2, 10, 3, 64).transpose(1, 2)  # non-contiguous keys (cache layouts)
q = torch.randn(2, 9, 64)
dead = torch.zeros(2, 10, dtype=torch.bool); dead[0, :3] = True
a, t = qk_vote(q, k, 0.1, dead), qk_vote(q, k, 0.1, dead, impl="triton")
assert torch.allclose(a, t, atol=1e-5) and (a[0, :3] == 0).all() and torch.allclose(a.sum(-1), torch.full((2,), 9.0))
print("ok")
"""


def test_qk_vote_triton_matches_reference_under_interpreter():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _TRITON_CHECK], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]


def test_qk_vote_bad_input():
    from hf_tokens.ops.qk_vote import qk_logits

    with pytest.raises(ValueError, match="impl"):
        qk_logits(torch.randn(1, 4, 8), torch.randn(1, 2, 5, 8), 1.0, impl="cuda")
    with pytest.raises(ValueError, match="query"):
        qk_logits(torch.randn(1, 3, 8), torch.randn(1, 2, 5, 8), 1.0)


def test_registry_entries():
    from hf_tokens import registry

    for pid in ("h2o", "ems", "tokenselect", "tidaldecode"):
        spec = registry.get(pid)
        assert spec.implemented and spec.extension == "cache"
        contract = spec.load("contract")()
        cache = contract["factory"](tiny_config("llama"))
        assert isinstance(cache, spec.load("entry"))


def test_model_card_renders_usage():
    pytest.importorskip("jinja2")
    from hf_tokens.hub import render_card

    for pid in ("h2o", "ems", "tokenselect", "tidaldecode"):
        text = str(render_card(pid))
        assert "cache=cache" in text and pid in text


@pytest.mark.slow
def test_real_model_full_budget_and_left_padding(smollm2):
    """On SmolLM2 (real weights, GQA 9/3 heads, 30 layers): full budget is exact, left padding changes nothing."""
    model, tokenizer = smollm2
    from hf_tokens.assets.text import text_chunks

    texts = [t[:700] for t in text_chunks("jargon", 2, 2000, seed=3)]
    ids = [tokenizer(t, add_special_tokens=False, return_tensors="pt")["input_ids"][:, :120] for t in texts]
    short = ids[1][:, :90]
    ref = _steps(model, DynamicCache(config=model.config), ids[0], n_decode=3)
    for cache_cls in ALL:
        got = _steps(model, cache_cls(model.config, budget=1.0), ids[0], n_decode=3)
        for a, b in zip(ref, got):
            torch.testing.assert_close(b, a, rtol=0, atol=1e-4)
    batch = torch.cat([ids[0], torch.cat([torch.full((1, 30), tokenizer.pad_token_id), short], 1)])
    mask = torch.ones_like(batch)
    mask[1, :30] = 0
    kw = {"max_new_tokens": 6, "do_sample": False, "output_scores": True, "return_dict_in_generate": True}
    for cache_cls in (H2OCache, TokenSelectCache):
        both = model.generate(input_ids=batch, attention_mask=mask, **{KW: cache_cls(model.config, budget=40)}, **kw)
        alone = model.generate(input_ids=short, **{KW: cache_cls(model.config, budget=40)}, **kw)
        torch.testing.assert_close(torch.stack(both.scores, 1)[1], torch.stack(alone.scores, 1)[0], rtol=0, atol=1e-3)
