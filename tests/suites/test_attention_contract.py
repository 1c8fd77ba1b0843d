"""Contract of every attention function registered as ``hf_tokens_<id>`` (keys: tests/suites/README.md).

Each ``check_*`` takes a method's contract dict and raises ``AssertionError`` when the method breaks the contract:

* ``check_loads``: the key is valid; ``from_pretrained(..., attn_implementation=key)`` and
  ``set_attn_implementation(key)`` load it (with its mask builder) and give the same logits;
* ``check_equals_sdpa``: under ``exact_kwargs`` it equals sdpa (fp32 and bf16) on a left-padded batch, prefill and
  cached one-token steps;
* ``check_left_padding``: a left-padded row equals the same row alone (prefill and decoding);
* ``check_grouped_query_heads``: a grouped-query model equals its multi-head copy (KV heads repeated);
* ``check_decoding``: cached one-token steps equal one forward over the whole sequence;
* ``check_dtypes``: bf16 runs and stays close to fp32, output in the input dtype;
* ``check_kernel``: the Triton kernel equals the PyTorch reference (``TRITON_INTERPRET=1`` on CPU).

The suite runs them on every implemented attention method of the registry, and on fixture attentions (one correct,
several broken) to show that each check passes a correct method and fails a broken one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache

from hf_tokens._compat import cache_kwarg
from hf_tokens.attention import check_attention_key, register_attention, unregister_attention
from hf_tokens.testing import tiny_model
from tests.suites import _attention_fixtures as fixtures
from tests.suites._common import contract_of, implemented

SPECS = implemented("attention")
REQUIRED = ("key", "fn", "exact_kwargs")
DTYPES = (torch.float32, torch.bfloat16)
# equals-sdpa / bf16-vs-fp32 tolerances (rtol, atol) on logits of the tiny models, unless a contract gives its own
TOLERANCES = {torch.float32: (1e-5, 1e-5), torch.bfloat16: (3e-2, 3e-2)}
PAD = 5


def _register(contract: dict[str, Any]) -> str:
    return register_attention(contract["key"], contract["fn"], mask=contract.get("mask", "bool"))


def _model(contract: dict[str, Any], exact: bool = False, dtype: torch.dtype = torch.float32, **overrides: Any) -> Any:
    key = _register(contract)
    kwargs = contract["exact_kwargs"] if exact else contract.get("model_kwargs") or contract["exact_kwargs"] or {}
    return tiny_model("llama", attn_implementation=key, **{**kwargs, **overrides}).to(dtype)


def _tolerance(contract: dict[str, Any], dtype: torch.dtype) -> tuple[float, float]:
    return contract.get("tolerances", {}).get(dtype, TOLERANCES[dtype])


def _ids(batch: int, length: int, seed: int) -> torch.Tensor:
    return torch.randint(2, 300, (batch, length), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def _run(model: Any, ids: torch.Tensor, mask: torch.Tensor | None, prefill: int) -> torch.Tensor:
    """Logits of ``ids``: one forward over the first ``prefill`` tokens, then one token at a time with a cache."""
    cache = DynamicCache(config=model.config)
    out = []
    try:
        for start, end in [(0, prefill), *((t, t + 1) for t in range(prefill, ids.shape[1]))]:
            step_mask = None if mask is None else mask[:, :end]
            out.append(model(ids[:, start:end], attention_mask=step_mask, **{cache_kwarg(): cache}).logits.float())
    except RuntimeError as exc:  # e.g. a dtype mismatch after the attention function
        raise AssertionError(f"{model.config._attn_implementation} fails in {model.dtype}: {exc}") from exc
    return torch.cat(out, dim=1)


def _padded_batch(length: int = 14) -> tuple[torch.Tensor, torch.Tensor]:
    """Two rows: the second is left-padded by ``PAD`` tokens."""
    ids = _ids(2, length, seed=3)
    ids[1, :PAD] = 1
    mask = torch.ones_like(ids)
    mask[1, :PAD] = 0
    return ids, mask


def check_loads(contract: dict[str, Any]) -> None:
    key = contract["key"]
    try:
        check_attention_key(key)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"invalid attention key: {exc}") from exc
    _register(contract)
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    assert key in AttentionInterface._global_mapping and key in AttentionMaskInterface._global_mapping, key
    kwargs = contract.get("model_kwargs") or contract["exact_kwargs"] or {}
    base = tiny_model("llama", **kwargs)
    ids = _ids(2, 10, seed=1)
    with tempfile.TemporaryDirectory() as folder, torch.no_grad():
        base.save_pretrained(folder)
        loaded = AutoModelForCausalLM.from_pretrained(folder, attn_implementation=key).eval()
        assert loaded.config._attn_implementation == key, loaded.config._attn_implementation
        base.set_attn_implementation(key)
        assert base.config._attn_implementation == key, base.config._attn_implementation
        torch.testing.assert_close(loaded(ids).logits, base(ids).logits, rtol=0, atol=0)


def check_equals_sdpa(contract: dict[str, Any], dtype: torch.dtype = torch.float32) -> None:
    if contract["exact_kwargs"] is None:
        pytest.skip(f"{contract['key']} has no setting under which it equals softmax attention")
    model = _model(contract, exact=True, dtype=dtype)
    ids, mask = _padded_batch()
    ours = _run(model, ids, mask, prefill=10)
    model.set_attn_implementation("sdpa")
    ref = _run(model, ids, mask, prefill=10)
    rtol, atol = _tolerance(contract, dtype)
    real = mask.bool()
    torch.testing.assert_close(ours[real], ref[real], rtol=rtol, atol=atol)


def check_left_padding(contract: dict[str, Any]) -> None:
    model = _model(contract)
    ids, mask = _padded_batch()
    both = _run(model, ids, mask, prefill=10)
    alone = _run(model, ids[1:, PAD:], None, prefill=10 - PAD)
    torch.testing.assert_close(both[1, PAD:], alone[0], rtol=1e-4, atol=1e-4)


def check_grouped_query_heads(contract: dict[str, Any]) -> None:
    gqa = _model(contract)
    config = gqa.config
    groups = config.num_attention_heads // config.num_key_value_heads
    assert groups > 1, "the tiny model must use grouped-query attention"
    mha = _model(contract, num_key_value_heads=config.num_attention_heads)
    state = gqa.state_dict()
    head_dim = config.hidden_size // config.num_attention_heads
    for name, weight in list(state.items()):
        if name.endswith(("k_proj.weight", "v_proj.weight")):  # [H_kv * D, hidden] -> each KV head repeated
            state[name] = (
                weight.view(config.num_key_value_heads, head_dim, -1).repeat_interleave(groups, 0).flatten(0, 1)
            )
    mha.load_state_dict(state)
    ids = _ids(2, 12, seed=2)
    torch.testing.assert_close(_run(gqa, ids, None, prefill=8), _run(mha, ids, None, prefill=8), rtol=1e-5, atol=1e-5)


def check_decoding(contract: dict[str, Any]) -> None:
    model = _model(contract)
    ids = _ids(2, 16, seed=4)
    whole = _run(model, ids, None, prefill=16)
    steps = _run(model, ids, None, prefill=6)
    torch.testing.assert_close(steps, whole, rtol=1e-4, atol=1e-4)


def check_dtypes(contract: dict[str, Any]) -> None:
    ids, mask = _padded_batch()
    ref = _run(_model(contract), ids, mask, prefill=10)
    model = _model(contract, dtype=torch.bfloat16)
    seen: list[torch.dtype] = []
    hooks = [
        m.o_proj.register_forward_pre_hook(lambda _, a: seen.append(a[0].dtype)) for m in _attention_modules(model)
    ]
    try:
        got = _run(model, ids, mask, prefill=10)
    finally:
        for hook in hooks:
            hook.remove()
    assert set(seen) == {torch.bfloat16}, f"attention output dtypes {set(seen)} in a bfloat16 model"
    rtol, atol = _tolerance(contract, torch.bfloat16)
    scale = ref.abs().max().item()
    real = mask.bool()
    torch.testing.assert_close(got[real] / scale, ref[real] / scale, rtol=rtol, atol=atol)


def _attention_modules(model: Any) -> list[Any]:
    return [m for m in model.modules() if hasattr(m, "o_proj")]


def check_kernel(contract: dict[str, Any], dtype: torch.dtype = torch.float32) -> None:
    kernel = contract.get("kernel")
    if kernel is None:
        pytest.skip(f"{contract['key']} has no Triton kernel")
    if os.environ.get("TRITON_INTERPRET") != "1" and not torch.cuda.is_available():
        pytest.skip("triton needs a GPU or TRITON_INTERPRET=1 (the test conftest sets it)")
    if dtype not in kernel["tolerances"]:
        pytest.skip(f"{contract['key']}'s kernel declares no tolerance for {dtype}")
    rtol, atol = kernel["tolerances"][dtype]
    args, kwargs = kernel["make_inputs"](dtype, 0)
    want = kernel["fn"](*args, impl="reference", **kwargs)
    for impl in kernel["impls"]:
        got = kernel["fn"](*kernel["make_inputs"](dtype, 0)[0], impl=impl, **kwargs)
        assert got.dtype == want.dtype and got.shape == want.shape, (impl, got.dtype, got.shape)
        torch.testing.assert_close(got.float(), want.float(), rtol=rtol, atol=atol)


CHECKS = {
    "loads": check_loads,
    "equals_sdpa": check_equals_sdpa,
    "equals_sdpa_bf16": lambda c: check_equals_sdpa(c, torch.bfloat16),
    "left_padding": check_left_padding,
    "grouped_query_heads": check_grouped_query_heads,
    "decoding": check_decoding,
    "dtypes": check_dtypes,
    "kernel": check_kernel,
    "kernel_bf16": lambda c: check_kernel(c, torch.bfloat16),
}


# ---- every registered attention method ---------------------------------------------------------------------------
@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("spec", SPECS)
def test_attention_method(spec, check):
    CHECKS[check](contract_of(spec, REQUIRED))


# ---- the suite's own tests: a correct fixture passes every check, each broken one fails its checks --------------
BROKEN = {
    "ignores_mask": ("equals_sdpa", "equals_sdpa_bf16", "left_padding", "decoding"),
    "top_left_causal": ("equals_sdpa", "equals_sdpa_bf16", "left_padding", "decoding"),
    "wrong_gqa": ("equals_sdpa", "equals_sdpa_bf16", "grouped_query_heads"),
    "float32_output": ("equals_sdpa_bf16", "dtypes"),
    "kernel_drops_scale": ("kernel", "kernel_bf16"),
}


@pytest.fixture(scope="module", autouse=True)
def _unregister_fixtures():
    yield
    for key in fixtures.KEYS.values():
        with contextlib.suppress(KeyError):
            unregister_attention(key)


@pytest.mark.parametrize("check", CHECKS)
def test_suite_passes_a_correct_attention(check):
    CHECKS[check](fixtures.contract("ok"))


@pytest.mark.parametrize("name, check", [(n, c) for n, checks in BROKEN.items() for c in checks])
def test_suite_fails_a_broken_attention(name, check):
    with pytest.raises(AssertionError):
        CHECKS[check](fixtures.contract(name))


@pytest.mark.parametrize("name", BROKEN)
def test_broken_fixtures_pass_the_other_checks(name):
    """Each broken fixture fails only through its bug: the checks it is not listed under pass."""
    for check, fn in CHECKS.items():
        if check not in BROKEN[name]:
            fn(fixtures.contract(name))


def test_invalid_key_fails_loads():
    contract = {**fixtures.contract("ok"), "key": "hf_tokens/ok"}
    with pytest.raises(AssertionError, match="invalid attention key"):
        check_loads(contract)
