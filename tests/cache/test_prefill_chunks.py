"""A long prefill's attention statistics are accumulated in blocks of query rows (``AttentionCall.row_chunks``), so
H2O/EMS never hold a ``q x S`` probability matrix per head at once (an 8k-token prefill would need 8k x 8k). The
blocks must give the same scores, the same evictions and the same logits as one block of all rows."""

from __future__ import annotations

import pytest
import torch

from hf_tokens._compat import cache_kwarg
from hf_tokens.attention.hooks import AttentionCall
from hf_tokens.cache.ems.cache import EMSCache
from hf_tokens.cache.h2o.cache import H2OCache


def _run(model, cache, ids: torch.Tensor, n_decode: int = 3) -> list[torch.Tensor]:
    kw = {cache_kwarg(model): cache, "use_cache": True}
    outs = []
    with torch.no_grad():
        out = model(ids, **kw)
        outs.append(out.logits)
        for _ in range(n_decode):
            out = model(out.logits[:, -1:].argmax(-1), **kw)
            outs.append(out.logits)
    return outs


def _state(cache) -> list[dict[str, torch.Tensor]]:
    return [{"keys": layer.keys.clone(), "score": layer.score().clone()} for layer in cache.layers]


@pytest.mark.parametrize("cache_cls", [H2OCache, EMSCache], ids=lambda c: c.__name__)
def test_prefill_in_row_blocks_equals_one_block(tiny_llama, monkeypatch, cache_cls):
    gen = torch.Generator().manual_seed(5)
    ids = torch.randint(2, 300, (2, 40), generator=gen)
    whole = cache_cls(tiny_llama.config, budget=14)
    ref = _run(tiny_llama, whole, ids)

    blocks: list[int] = []
    original = AttentionCall.row_chunks

    def small_blocks(self: AttentionCall, max_elements: int = 2**25) -> list[slice]:
        out = original(self, max_elements=self.keys.shape[-2] * 8)  # a few rows per block (4 query heads x B=2)
        blocks.append(len(out))
        return out

    monkeypatch.setattr(AttentionCall, "row_chunks", small_blocks)
    chunked = cache_cls(tiny_llama.config, budget=14)
    got = _run(tiny_llama, chunked, ids)
    assert max(blocks) >= 10  # the 40-row prefill really ran in blocks (one block per decoding step)
    for a, b in zip(_state(whole), _state(chunked)):
        torch.testing.assert_close(b["keys"], a["keys"], rtol=0, atol=0)  # the same tokens kept, in the same slots
        torch.testing.assert_close(b["score"], a["score"], rtol=1e-5, atol=1e-6)
    for a, b in zip(ref, got):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-5)
