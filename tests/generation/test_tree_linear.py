"""oneDNN routing of multi-token linears in verification forwards: what is rerouted, and that it stays lossless."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hf_tokens.generation import token_recycling
from hf_tokens.generation.tree import linear
from hf_tokens.generation.tree.linear import OneDNNLinearMode, verification_linear
from hf_tokens.testing import tiny_model

pytestmark = pytest.mark.skipif(not linear.onednn_available(), reason="PyTorch built without oneDNN")


@pytest.fixture
def counted(monkeypatch):
    calls: list[tuple[int, ...]] = []
    original = linear.onednn_linear

    def spy(x, weight, bias):
        calls.append(tuple(x.shape))
        return original(x, weight, bias)

    monkeypatch.setattr(linear, "onednn_linear", spy)
    return calls


@pytest.mark.parametrize("with_bias", [False, True])
def test_multi_row_linears_are_rerouted_and_match_the_stock_kernel(counted, with_bias):
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(1, 7, 48, generator=g), torch.randn(80, 48, generator=g)
    b = torch.randn(80, generator=g) if with_bias else None
    layer = torch.nn.Linear(48, 80, bias=with_bias)
    with torch.no_grad(), OneDNNLinearMode():
        out = F.linear(x, w, b)
        layer(x)
    assert counted == [(1, 7, 48), (1, 7, 48)]
    torch.testing.assert_close(out, F.linear(x, w, b), rtol=1e-5, atol=1e-5)


def test_one_row_grad_and_other_dtypes_keep_the_stock_kernel(counted):
    w = torch.randn(16, 8)
    one_row = torch.randn(1, 1, 8)
    with OneDNNLinearMode():
        same = F.linear(one_row, w)
        F.linear(torch.randn(4, 8, requires_grad=True), w)
        F.linear(torch.randn(4, 8, dtype=torch.float64), w.double())
    assert counted == []
    assert torch.equal(same, F.linear(one_row, w))  # bit-identical: exactly what plain generate computes


def test_verification_linear_only_for_float32_cpu_models():
    model = tiny_model("llama")
    assert isinstance(verification_linear(model), OneDNNLinearMode)
    assert not isinstance(verification_linear(model, enabled=False), OneDNNLinearMode)
    assert not isinstance(verification_linear(model.to(torch.bfloat16)), OneDNNLinearMode)


def test_generate_uses_onednn_by_default_and_can_opt_out(counted, tiny_llama):
    prompt = torch.tensor([[5, 9, 2, 7, 5, 9, 2, 7, 5, 9]])
    plain = tiny_llama.generate(prompt, max_new_tokens=16, do_sample=False)
    fast = tiny_llama.generate(prompt, max_new_tokens=16, do_sample=False, custom_generate=token_recycling.generate)
    assert counted, "the verification forwards should run on oneDNN"
    counted.clear()
    stock = tiny_llama.generate(
        prompt, max_new_tokens=16, do_sample=False, custom_generate=token_recycling.generate, onednn_linear=False
    )
    assert counted == []
    assert torch.equal(fast, plain) and torch.equal(stock, plain)


def test_min_rows_one_reroutes_single_rows_and_bad_values_are_refused(counted):
    with OneDNNLinearMode(min_rows=1):
        F.linear(torch.randn(1, 8), torch.randn(4, 8))
    assert counted == [(1, 8)]
    with pytest.raises(ValueError, match="min_rows"):
        OneDNNLinearMode(min_rows=0)
