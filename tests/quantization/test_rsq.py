"""RSQ (hf_tokens.quantization.rsq): packing, Hadamard rotation, token importance, GPTQ, the Triton kernel, errors.

The contract (registered quantizer, bit-exact save/load, reloaded logits) is checked by
tests/suites/test_quantization_contract.py; here the properties the method relies on.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from hf_tokens.quantization.rsq import RSQConfig, quantize_model
from hf_tokens.quantization.rsq.gptq import accumulate_hessian, gptq, rtn
from hf_tokens.quantization.rsq.importance import AttentionObserver, min_max
from hf_tokens.quantization.rsq.modules import RSQLinear, dequant_linear, dequantized_weights
from hf_tokens.quantization.rsq.packing import dequantize_weight, pack, unpack
from hf_tokens.quantization.rsq.rotation import HadamardLinear, hadamard, hadamard_transform, rotate_model
from hf_tokens.testing import tiny_model

IDS = torch.randint(2, 320, (2, 13), generator=torch.Generator().manual_seed(3))


def _cfg(**kw):
    base = {"bits": 4, "group_size": 32, "calibration": "random", "num_samples": 4, "seq_len": 24}
    return RSQConfig(**{**base, **kw})


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_pack_unpack_round_trip(bits):
    codes = torch.randint(0, 2**bits, (5, 37), generator=torch.Generator().manual_seed(bits))
    packed = pack(codes, bits)
    assert packed.dtype == torch.int32 and packed.shape == (5, -(-37 // (32 // bits)))
    assert torch.equal(unpack(packed, bits, 37).long(), codes)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize(("in_features", "group_size"), [(70, 16), (64, 32), (37, -1)])
def test_dequantize_weight_is_code_minus_zero_times_scale_of_each_column_group(bits, in_features, group_size):
    g = torch.Generator().manual_seed(bits)
    codes = torch.randint(0, 2**bits, (5, in_features), generator=g)
    groups = 1 if group_size == -1 else -(-in_features // group_size)
    scales = torch.rand(5, groups, generator=g)
    zeros = torch.randint(0, 2**bits, (5, groups), generator=g).to(torch.uint8)
    column_group = torch.arange(in_features) // (in_features if group_size == -1 else group_size)
    expected = (codes.float() - zeros.float()[:, column_group]) * scales[:, column_group]
    got = dequantize_weight(pack(codes, bits), scales, zeros, bits, group_size, in_features)
    assert got.shape == (5, in_features) and torch.equal(got, expected)


@pytest.mark.parametrize("n", [12, 36, 64, 576, 1536])
def test_hadamard_is_orthogonal_with_unit_entries(n):
    h = hadamard(n)
    assert torch.allclose(h @ h.T, torch.eye(n, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(h.abs() * n**0.5, torch.ones(n, n, dtype=torch.float64))


@pytest.mark.parametrize("n", [1, 12, 64, 576, 896, 1536, 4864])
def test_fast_hadamard_transform_equals_the_matrix_product(n):
    x = torch.randn(2, 3, n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
    assert torch.allclose(hadamard_transform(x), x @ hadamard(n), atol=1e-12)


def test_hadamard_of_unsupported_order_raises():
    with pytest.raises(ValueError, match="orthogonal"):
        hadamard(7)


@pytest.mark.parametrize(("arch", "tied"), [("llama", False), ("llama", True), ("qwen2", False)])
@pytest.mark.parametrize(("kind", "online"), [("hadamard", True), ("hadamard", False), ("orthogonal", True)])
def test_rotation_leaves_full_precision_logits_unchanged(arch, tied, kind, online):
    model = tiny_model(arch, tie_word_embeddings=tied)
    with torch.no_grad():
        norm = model.model.norm.weight
        norm.uniform_(0.5, 1.5)  # non-trivial norm scales, so folding them matters
        for layer in model.model.layers:
            layer.input_layernorm.weight.uniform_(0.5, 1.5)
        before = model(IDS).logits
    offline = copy.deepcopy(model)
    rotate_model(model, kind, seed=1, online_down_proj=online)
    with torch.no_grad():
        after = model(IDS).logits
    assert torch.allclose(after, before, atol=1e-4, rtol=1e-4)
    down = model.model.layers[0].mlp.down_proj
    assert isinstance(down, HadamardLinear) == online
    if online:  # down_proj stores W H (the offline-only rotation's weight times the exact Hadamard)
        rotate_model(offline, kind, seed=1)
        expected = offline.model.layers[0].mlp.down_proj.weight.double() @ hadamard(down.in_features)
        assert torch.allclose(down.weight.double(), expected, atol=1e-5)
    assert not model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    assert torch.all(model.model.norm.weight == 1)
    w = model.model.embed_tokens.weight
    assert not torch.allclose(w, tiny_model(arch, tie_word_embeddings=tied).model.embed_tokens.weight)


@pytest.mark.slow
def test_rotation_leaves_smollm2_logits_unchanged(smollm2):
    model, tokenizer = smollm2
    model = copy.deepcopy(model)
    ids = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt").input_ids
    with torch.no_grad():
        before = model(ids).logits
    rotate_model(model, "hadamard", seed=0, online_down_proj=True)  # 576 = 16 x 36 (Paley II), 1536 = 128 x 12
    with torch.no_grad():
        after = model(ids).logits
    assert (after - before).abs().max() < 2e-3 * before.abs().max()
    top2 = before.topk(2, dim=-1).values
    clear = (top2[..., 0] - top2[..., 1]) > 1e-2  # the greedy token, wherever it is not a near-tie
    assert torch.equal(after.argmax(-1)[clear], before.argmax(-1)[clear])


def _toy_layer(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(64, 64, generator=g) / 8
    x = torch.randn(2048, 64, generator=g) @ mix + torch.randn(2048, 64, generator=g) * 0.1
    x[:, 3] *= 20  # an outlier feature
    weight = torch.randn(48, 64, generator=g)
    hessian = accumulate_hessian(torch.zeros(64, 64), x) / x.shape[0]
    return weight, x, hessian


def _output_error(weight, quantized, x, group_size):
    return float(((x @ weight.T - x @ quantized.dequantize(group_size).T) ** 2).mean())


@pytest.mark.parametrize(("bits", "group_size", "act_order"), [(4, 32, False), (3, -1, False), (3, 16, True)])
def test_gptq_beats_rtn_reconstruction_error(bits, group_size, act_order):
    weight, x, hessian = _toy_layer()
    err_rtn = _output_error(weight, rtn(weight, bits, group_size, sym=False), x, group_size)
    q = gptq(weight, hessian, bits=bits, group_size=group_size, sym=False, block_size=16, act_order=act_order)
    err_gptq = _output_error(weight, q, x, group_size)
    assert err_gptq < 0.7 * err_rtn
    assert q.codes.min() >= 0 and q.codes.max() <= 2**bits - 1 and torch.equal(q.codes, q.codes.round())


@pytest.mark.parametrize("sym", [False, True])
def test_clip_search_never_rounds_worse_than_min_max_and_helps_most_rows(sym):
    from hf_tokens.quantization.rsq.packing import dequantize_codes, grid_params, quantize_codes

    w = torch.randn(16, 64, generator=torch.Generator().manual_seed(5))
    w[3, 7] = 25.0  # an outlier: its row's best grid is the min-max one (clipping it would cost more)

    def row_error(scale, zero):
        return (dequantize_codes(quantize_codes(w, scale, zero, 3), scale, zero) - w).abs().pow(2.4).sum(1)

    minmax, searched = row_error(*grid_params(w, 3, sym)), row_error(*grid_params(w, 3, sym, clip_search=True))
    assert torch.all(searched <= minmax + 1e-6)
    assert searched.sum() < 0.97 * minmax.sum() and int((searched < minmax - 1e-6).sum()) >= 8


def test_hessian_scaling_is_importance_normalised_to_mean_one():
    x = torch.randn(10, 6)
    r = torch.rand(10) + 0.5
    h = accumulate_hessian(torch.zeros(6, 6), x, r)
    expected = 2 * x.T @ torch.diag(r / r.mean()) @ x
    assert torch.allclose(h, expected, atol=1e-5)
    assert torch.allclose(accumulate_hessian(torch.zeros(6, 6), x, torch.full((10,), 3.0)), 2 * x.T @ x, atol=1e-5)


def test_min_max_scaling():
    assert torch.allclose(min_max(torch.tensor([0.0, 5.0, 10.0]), 1.0, 3.0), torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(min_max(torch.tensor([4.0, 4.0]), 2.0, 3.0), torch.tensor([2.0, 2.0]))


def test_attention_concentration_is_the_attention_each_token_receives():
    model = tiny_model("llama")
    eager = tiny_model("llama", attn_implementation="eager")
    ids = IDS[:1]
    with torch.no_grad():
        attentions = eager(ids, output_attentions=True).attentions  # [B, H, q, S] per layer
        hidden = model.model.embed_tokens(ids)
        positions = torch.arange(ids.shape[1])[None]
        emb = model.model.rotary_emb(hidden, positions)
        observer = AttentionObserver()
        model.model.layers[0](hidden, position_embeddings=emb, position_ids=positions, cache=observer)
    expected = attentions[0].sum(dim=(1, 2))  # summed over heads and queries
    assert torch.allclose(observer.received, expected, atol=1e-5)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_uniform_importance_reduces_rsq_to_rotation_plus_gptq_exactly():
    uniform = _state(quantize_model(tiny_model("llama"), _cfg(importance="uniform"), progress=False))
    flat = _cfg(importance="attention_concentration", importance_min=2.0, importance_max=2.0)
    constant = _state(quantize_model(tiny_model("llama"), flat, progress=False))
    assert uniform.keys() == constant.keys()
    assert all(torch.equal(uniform[k], constant[k]) for k in uniform)
    rsq = _state(quantize_model(tiny_model("llama"), _cfg(), progress=False))
    assert any(not torch.equal(uniform[k], rsq[k]) for k in uniform if k.endswith("qweight"))


@pytest.mark.parametrize("importance", ["activation_norm", "first_tokens"])
def test_other_importances_quantize_and_generate(importance):
    model = quantize_model(tiny_model("llama"), _cfg(importance=importance, bits=8, rotation=None), progress=False)
    assert isinstance(model.model.layers[0].mlp.down_proj, RSQLinear)
    out = model.generate(IDS[:1], max_new_tokens=4, do_sample=False)
    assert out.shape == (1, IDS.shape[1] + 4)


def test_8bit_rsq_stays_close_to_full_precision_and_rtn_needs_no_calibration():
    with torch.no_grad():
        ref = tiny_model("llama")(IDS).logits
        q8 = quantize_model(tiny_model("llama"), _cfg(bits=8), progress=False)(IDS).logits
        rtn8 = quantize_model(tiny_model("llama"), _cfg(bits=8, algorithm="rtn"), progress=False)(IDS).logits
    scale = ref.abs().max()
    assert (q8 - ref).abs().max() < 0.03 * scale and (rtn8 - ref).abs().max() < 0.03 * scale


@pytest.mark.parametrize("kwargs", [{"bits": 5}, {"bits": True}, {"group_size": 0}, {"rotation": "givens"},
                                    {"importance": "entropy"}, {"importance_min": 3.0, "importance_max": 1.0},
                                    {"num_samples": 0}, {"calibration": "wikitext"}, {"damp": 1.5},
                                    {"online_hadamard": "yes"}])  # fmt: skip
def test_bad_config_raises_value_error(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs)).split("_")[0]):
        RSQConfig(**kwargs)


def test_unknown_config_argument_raises_type_error():
    with pytest.raises(TypeError, match="bitz"):
        RSQConfig(bitz=4)


def test_model_without_llama_layers_raises_and_is_left_unchanged():
    model = tiny_model("gpt2")
    before = _state(model)
    with pytest.raises(ValueError, match="Llama-style"):
        quantize_model(model, _cfg(), progress=False)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_calibration_text_too_short_raises_before_changing_the_model(tokenizer):
    model = tiny_model("llama")
    before = _state(model)
    with pytest.raises(ValueError, match="too short"):
        quantize_model(model, _cfg(calibration="licenses", seq_len=10**6), tokenizer=tokenizer, progress=False)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_online_hadamard_of_an_unsupported_intermediate_size_raises_before_changing_the_model():
    model = tiny_model("llama", intermediate_size=42)  # 42 = 2 x 21: no Hadamard matrix of that order is built
    before = _state(model)
    with pytest.raises(ValueError, match="online_hadamard=False"):
        quantize_model(model, _cfg(group_size=-1), progress=False)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert type(model.model.layers[0].mlp.down_proj) is torch.nn.Linear
    quantize_model(model, _cfg(group_size=-1, online_hadamard=False), progress=False)  # the way out works


def test_online_hadamard_survives_save_and_load_also_for_a_float_down_proj(tmp_path):
    from transformers import AutoModelForCausalLM

    model = quantize_model(
        tiny_model("llama"), _cfg(modules_to_not_convert=["layers.1.mlp.down_proj"]), progress=False
    )
    quantized, kept = model.model.layers[0].mlp.down_proj, model.model.layers[1].mlp.down_proj
    assert isinstance(quantized, RSQLinear) and quantized.input_hadamard and isinstance(kept, HadamardLinear)
    tiny_model("llama").save_pretrained(tmp_path / "float")
    loaded = AutoModelForCausalLM.from_pretrained(
        tmp_path / "float", quantization_config=_cfg(modules_to_not_convert=["layers.1.mlp.down_proj"])
    )
    loaded.save_pretrained(tmp_path / "q")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "q")
    assert again.model.layers[0].mlp.down_proj.input_hadamard
    assert isinstance(again.model.layers[1].mlp.down_proj, HadamardLinear)
    with torch.no_grad():
        assert torch.equal(again(IDS).logits, loaded(IDS).logits)
        assert torch.equal(loaded(IDS).logits, model(IDS).logits)  # quantize-on-load = quantize_model


def test_attention_concentration_needs_sdpa():
    with pytest.raises(ValueError, match="sdpa"):
        quantize_model(tiny_model("llama", attn_implementation="eager"), _cfg(), progress=False)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [-1, 16])
def test_triton_dequant_matmul_equals_reference(bits, group_size):
    pytest.importorskip("triton")
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("the Triton kernel runs on CPU only under TRITON_INTERPRET=1")
    lin = torch.nn.Linear(70, 45, bias=bits % 2 == 0)
    layer = RSQLinear.from_quantized(lin, rtn(lin.weight, bits, group_size, sym=False), bits=bits,
                                     group_size=group_size)  # fmt: skip
    x = torch.randn(3, 5, 70, generator=torch.Generator().manual_seed(bits))
    args = (x, layer.qweight, layer.scales, layer.qzeros, layer.bias)
    kw = {"bits": bits, "group_size": group_size, "in_features": 70}
    ref = dequant_linear(*args, **kw, impl="reference")
    assert torch.allclose(dequant_linear(*args, **kw, impl="triton"), ref, atol=1e-5, rtol=1e-5)
    assert torch.equal(layer(x), ref)  # "auto" takes the reference on CPU tensors


def test_dequantized_weights_gives_identical_logits_and_drops_its_copies_also_after_an_error():
    model = quantize_model(tiny_model("llama"), _cfg(), progress=False)
    layers = [m for m in model.modules() if isinstance(m, RSQLinear)]
    assert any(m.input_hadamard for m in layers)
    with torch.no_grad():
        per_call = model(IDS).logits
        with dequantized_weights(model):
            assert all(m.cached_weight is not None for m in layers)
            assert torch.equal(model(IDS).logits, per_call)
    assert all(m.cached_weight is None for m in layers)
    with pytest.raises(RuntimeError, match="boom"), dequantized_weights(model):
        raise RuntimeError("boom")
    assert all(m.cached_weight is None for m in layers)
    assert not any("cached_weight" in k for k in model.state_dict())
    with pytest.raises(TypeError, match="model"), dequantized_weights("not a model"):
        pass


def test_save_quantized_writes_a_card_with_bits_group_size_and_calibration(tmp_path):
    from transformers import AutoModelForCausalLM

    from hf_tokens.quantization.rsq.hub import save_quantized

    tiny_model("llama").save_pretrained(tmp_path / "float")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "float", quantization_config=_cfg())
    out = save_quantized(model, tmp_path / "q")
    card = (out / "README.md").read_text()
    assert "4-bit" in card and "groups of 32" in card and "4 sequences x 24 tokens of `random`" in card
    again = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(again(IDS).logits, model(IDS).logits)
    with pytest.raises(ValueError, match="not RSQ-quantized"):
        save_quantized(tiny_model("llama"), tmp_path / "float2")
    assert not (tmp_path / "float2").exists()


def test_demo_quantizes_a_copy_and_generates():
    """The demo's own properties on a tiny model; `hf-tokens run --method rsq` on SmolLM2 is tests/test_cli.py's."""
    from hf_tokens.quantization.rsq.demo import demo
    from hf_tokens.testing import tiny_tokenizer

    model = tiny_model("llama", hidden_size=128, intermediate_size=256, num_attention_heads=4, num_key_value_heads=2)
    tokenizer = tiny_tokenizer()
    before = {k: v.clone() for k, v in list(model.state_dict().items())[:3]}
    data = demo(model, tokenizer, "What is the capital of France?", 8)
    assert data["text"] and data["new_tokens"] > 0
    assert data["weights_mb_quantized"] < data["weights_mb_float"]
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the input model is untouched


def test_rotated_model_with_tied_embeddings_reloads_bit_exactly(tmp_path):
    from transformers import AutoModelForCausalLM

    tied = tiny_model("llama", tie_word_embeddings=True)
    with torch.no_grad():
        tied.model.norm.weight.uniform_(0.5, 1.5)  # folded into the head only: head and embeddings must differ
    tied.save_pretrained(tmp_path / "float")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "float", quantization_config=_cfg(bits=3))
    assert not model.config.tie_word_embeddings  # the head carries the final norm's scale after rotation
    model.save_pretrained(tmp_path / "q")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "q")
    assert torch.equal(again.lm_head.weight, model.lm_head.weight)
    assert not torch.equal(again.lm_head.weight, again.model.embed_tokens.weight)
    assert torch.equal(again(IDS).logits, model(IDS).logits)
