"""Contract of every cache method: a budget covering everything changes nothing; budgets are real (shapes)."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from hf_tokens._compat import cache_kwarg
from hf_tokens.testing import tiny_model
from tests.suites._common import contract_of, implemented

SPECS = implemented("cache")
ARCHS = ("llama", "qwen2", "mistral")
PREFILL, STEPS = 20, 8


def _logits_over_steps(model, cache, ids):
    """Prefill ``ids[:, :PREFILL]`` then feed the rest one token at a time; logits of every position fed."""
    out = []
    with torch.no_grad():
        res = model(ids[:, :PREFILL], use_cache=True, **{cache_kwarg(): cache})
        out.append(res.logits)
        for t in range(PREFILL, ids.shape[1]):
            res = model(ids[:, t : t + 1], use_cache=True, **{cache_kwarg(): cache})
            out.append(res.logits)
    return torch.cat(out, dim=1)


def _model(contract, arch):
    return tiny_model(arch, **contract.get("model_kwargs", {}))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("spec", SPECS)
def test_full_budget_equals_dynamic_cache(spec, arch):
    contract = contract_of(spec, ("factory",))
    model = _model(contract, arch)
    ids = torch.randint(2, model.config.vocab_size, (2, PREFILL + STEPS), generator=torch.Generator().manual_seed(0))
    ref = _logits_over_steps(model, DynamicCache(config=model.config), ids)
    cache = contract["factory"](model.config)
    got = _logits_over_steps(model, cache, ids)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    assert cache.get_seq_length() == PREFILL + STEPS


@pytest.mark.parametrize("spec", SPECS)
def test_generate_runs_and_counts_every_token(spec):
    contract = contract_of(spec, ("factory",))
    model = _model(contract, "llama")
    ids = torch.randint(2, model.config.vocab_size, (1, 12), generator=torch.Generator().manual_seed(1))
    make = contract.get("budgeted")
    cache = make(model.config, 8) if make else contract["factory"](model.config)
    out = model.generate(ids, max_new_tokens=10, min_new_tokens=10, do_sample=False, **{cache_kwarg(): cache})
    assert out.shape == (1, 22)
    assert cache.get_seq_length() == 21  # the last generated token is never fed back


@pytest.mark.parametrize("spec", SPECS)
def test_budget_bounds_stored_tensors(spec):
    contract = contract_of(spec, ("factory", "budgeted"))
    if contract["budgeted"] is None:
        pytest.skip(f"{spec.id} keeps every token and selects at attention time (no storage budget)")
    model = _model(contract, "llama")
    budget = 10
    cache = contract["budgeted"](model.config, budget)
    ids = torch.randint(2, model.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model(ids[:, :30], use_cache=True, **{cache_kwarg(): cache})
        for t in range(30, 40):
            model(ids[:, t : t + 1], use_cache=True, **{cache_kwarg(): cache})
            for layer in cache.layers:
                assert layer.keys.shape[-2] <= budget and layer.values.shape[-2] <= budget
    assert cache.get_seq_length() == 40
