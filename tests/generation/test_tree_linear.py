"""The oneDNN linear switch: what is rerouted, that it is restored exactly (also after an error), and that greedy
output stays identical for the tree methods and for transformers' prompt lookup and assisted decoding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hf_tokens.generation import dyspec, onednn_linears, token_recycling
from hf_tokens.generation.tree import linear
from hf_tokens.generation.tree.linear import is_patched, verification_linear
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


def _unpatched(*models) -> bool:
    return all("forward" not in m.__dict__ for model in models for m in model.modules())


@pytest.mark.parametrize("with_bias", [False, True])
def test_multi_row_linears_are_rerouted_and_match_the_stock_kernel(counted, with_bias):
    g = torch.Generator().manual_seed(0)
    layer = nn.Linear(48, 80, bias=with_bias)
    x = torch.randn(1, 7, 48, generator=g)
    with torch.no_grad():
        stock = layer(x)
        with onednn_linears(layer) as n:
            assert n == 1 and is_patched(layer)
            out = layer(x)
            by_name = layer(input=x)  # nn.Linear.forward's argument name works too
    assert counted == [(1, 7, 48)] * 2
    assert torch.equal(by_name, out)
    torch.testing.assert_close(out, stock, rtol=1e-5, atol=1e-5)
    assert not is_patched(layer) and _unpatched(layer)


def test_one_row_grad_and_other_dtypes_keep_the_stock_kernel(counted):
    layer, double = nn.Linear(8, 16), nn.Linear(8, 16).double()
    one_row = torch.randn(1, 1, 8)
    with onednn_linears(layer, double) as n:
        assert n == 1  # the float64 layer is not patched
        layer(torch.randn(4, 8))  # weights that require grad, with grad enabled: stock kernel
        with torch.no_grad():
            same = layer(one_row)
            double(torch.randn(4, 8, dtype=torch.float64))
    assert counted == []
    assert torch.equal(same, F.linear(one_row, layer.weight, layer.bias))  # bit-identical to the stock call


def test_min_rows_one_reroutes_single_rows_and_bad_arguments_are_refused(counted):
    layer = nn.Linear(8, 4)
    with torch.no_grad(), onednn_linears(layer, min_rows=1):
        layer(torch.randn(1, 8))
    assert counted == [(1, 8)]
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="min_rows"), onednn_linears(layer, min_rows=bad):
            pass
    with pytest.raises(TypeError, match=r"nn\.Module"), onednn_linears("model"):
        pass
    with pytest.raises(TypeError, match="at least one model"), onednn_linears():
        pass
    assert _unpatched(layer)


def test_restored_exactly_after_an_error_nesting_and_instance_overrides():
    model = tiny_model("llama")
    hooked = model.model.layers[0].mlp.up_proj
    own_forward = hooked.forward  # a bound method, as accelerate-style hooks install on the instance
    hooked.forward = lambda x: own_forward(x)
    with pytest.raises(RuntimeError, match="boom"), onednn_linears(model):
        assert is_patched(model.lm_head) and not is_patched(hooked)
        with onednn_linears(model) as inner:  # an enclosing switch keeps its modules
            assert inner == 0
        assert is_patched(model.lm_head)
        raise RuntimeError("boom")
    assert not is_patched(model.lm_head) and "forward" in hooked.__dict__
    del hooked.forward
    assert _unpatched(model)


def test_verification_linear_only_for_float32_cpu_models():
    model = tiny_model("llama")
    with verification_linear(model) as n:
        assert n and is_patched(model.lm_head)
    with verification_linear(model, enabled=False):
        assert not is_patched(model.lm_head)
    with verification_linear(model.to(torch.bfloat16)):
        assert not is_patched(model.lm_head)
    assert _unpatched(model)


def test_tree_methods_use_onednn_by_default_and_can_opt_out(counted, tiny_llama):
    prompt = torch.tensor([[5, 9, 2, 7, 5, 9, 2, 7, 5, 9]])
    plain = tiny_llama.generate(prompt, max_new_tokens=16, do_sample=False)
    assert counted == []
    fast = tiny_llama.generate(prompt, max_new_tokens=16, do_sample=False, custom_generate=token_recycling.generate)
    assert counted, "the verification forwards should run on oneDNN"
    counted.clear()
    stock = tiny_llama.generate(
        prompt, max_new_tokens=16, do_sample=False, custom_generate=token_recycling.generate, onednn_linear=False
    )
    assert counted == []
    assert torch.equal(fast, plain) and torch.equal(stock, plain)
    assert _unpatched(tiny_llama)


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gpt2"])
def test_prompt_lookup_and_assisted_decoding_keep_greedy_output_and_leave_the_model_unpatched(counted, arch):
    model = tiny_model(arch)
    assistant = dyspec.truncated_draft(model, 1)
    g = torch.Generator().manual_seed(5)
    prompts = [torch.randint(2, model.config.vocab_size, (1, 14), generator=g) for _ in range(2)]
    prompts.append(torch.tensor([[5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 5, 6, 7, 8]]))  # n-grams to look up
    for prompt in prompts:
        plain = model.generate(prompt, max_new_tokens=24, do_sample=False)
        with onednn_linears(model, assistant):
            lookup = model.generate(prompt, max_new_tokens=24, do_sample=False, prompt_lookup_num_tokens=4)
            assisted = model.generate(prompt, max_new_tokens=24, do_sample=False, assistant_model=assistant)
            with onednn_linears(model, min_rows=1):
                everything = model.generate(prompt, max_new_tokens=24, do_sample=False)
        assert torch.equal(lookup, plain) and torch.equal(assisted, plain) and torch.equal(everything, plain)
    assert any(rows[-2] > 1 for rows in counted if len(rows) > 1), "multi-row verification forwards ran on oneDNN"
    assert _unpatched(model, assistant)
