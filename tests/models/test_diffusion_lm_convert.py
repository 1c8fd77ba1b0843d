"""AR-to-diffusion adaptation (Dream-style): copying a Llama-shaped causal LM into the diffusion LM class with
grouped key/value heads and shifted logits; the shifted loss and sampler."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM

import hf_tokens.models.diffusion_lm.modeling as modeling
from hf_tokens.models.diffusion_lm.convert import diffusion_lm_from_causal_lm
from hf_tokens.models.diffusion_lm.modeling import masked_diffusion_loss
from hf_tokens.models.diffusion_lm.sampling import diffusion_generate
from hf_tokens.testing import tiny_model

VOCAB = 96


def tiny_llama(seed: int = 0, **overrides) -> LlamaForCausalLM:
    settings = {"rope_theta": 500.0, "tie_word_embeddings": True, "max_position_embeddings": 64, "eos_token_id": None}
    model = tiny_model("llama", seed=seed, vocab_size=VOCAB, **{**settings, "num_attention_heads": 8, **overrides})
    with torch.no_grad():  # non-trivial norms, so a norm copied to the wrong place shows
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return model


def ids(length: int = 11, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_with_causal_attention_the_copy_reproduces_the_ar_model_one_position_later(monkeypatch):
    """Every weight lands where the AR model uses it: made causal, the copy's shifted logits equal the AR logits."""
    ar = tiny_llama()
    dlm = diffusion_lm_from_causal_lm(ar)
    assert dlm.config.vocab_size == VOCAB + 1 and dlm.config.mask_token_id == VOCAB and dlm.config.shift_logits
    assert dlm.config.num_key_value_heads == 2 and dlm.config.rope_theta == 500.0
    x = ids()
    sdpa = F.scaled_dot_product_attention

    def causal(q, k, v, attn_mask=None, enable_gqa=False):
        return sdpa(q, k, v, is_causal=True, enable_gqa=enable_gqa)

    with torch.no_grad():
        expected = ar(x).logits
        monkeypatch.setattr(modeling.F, "scaled_dot_product_attention", causal)
        got = dlm(x).logits
        monkeypatch.undo()
        bidirectional = dlm(x).logits
    torch.testing.assert_close(got[:, 1:, :VOCAB], expected[:, :-1], rtol=1e-4, atol=1e-4)
    assert not torch.allclose(
        bidirectional[:, 1:-1, :VOCAB], expected[:, :-2], atol=1e-3
    )  # attention is bidirectional


def test_grouped_key_value_heads_keep_freecache_exact():
    dlm = diffusion_lm_from_causal_lm(tiny_llama())
    x = torch.cat([ids(8, 1), torch.full((1, 6), VOCAB)], dim=1)
    active = torch.arange(7, 11)
    with torch.no_grad():
        full, kv = dlm.hidden(x)
        part, _ = dlm.hidden(x, active=active, kv=kv)
    assert kv[0][0].shape[1] == 2  # the cache holds the 2 key/value heads, not 6
    torch.testing.assert_close(part, full[:, active], rtol=1e-5, atol=1e-5)


def test_shifted_loss_scores_token_i_from_position_i_minus_1_and_never_masks_the_first():
    dlm = diffusion_lm_from_causal_lm(tiny_llama())
    x = ids(12, 3)
    loss = masked_diffusion_loss(dlm, x, generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)  # redraw the same t and mask
    t = 1e-3 + (1 - 1e-3) * torch.rand(3, 1, generator=gen)
    masked = torch.rand(3, 12, generator=gen) < t
    masked[:, 0] = False
    noisy = torch.where(masked, torch.full_like(x, VOCAB), x)
    logits = dlm(noisy).logits  # shifted: logits[:, i] is read from hidden state i-1
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), reduction="none").view(3, 12)
    torch.testing.assert_close(loss, (nll * masked / t).sum() / x.numel(), rtol=1e-5, atol=1e-6)


def test_shifted_sampler_freecache_refreshed_every_step_equals_plain_and_fills_every_mask():
    dlm = diffusion_lm_from_causal_lm(tiny_llama())
    x = ids(6, 2)
    kwargs = {"max_new_tokens": 10, "steps": 10, "block_length": 5}
    plain, _ = diffusion_generate(dlm, x, **kwargs)
    refreshed, _ = diffusion_generate(dlm, x, freecache=True, refresh_every=1, **kwargs)
    cached, stats = diffusion_generate(dlm, x, freecache=True, **kwargs)
    assert torch.equal(plain, refreshed) and torch.equal(plain[:, :6], x)
    assert stats["full_forwards"] == 2 and not bool((cached == VOCAB).any())
    with torch.no_grad():  # the first new token of a one-token-per-step plain run is the model's own prediction
        first = dlm(torch.cat([x, torch.full((2, 10), VOCAB)], 1)).logits[:, 6, :VOCAB]
    one_step, _ = diffusion_generate(dlm, x, max_new_tokens=10, steps=10, block_length=1)
    assert torch.equal(one_step[:, 6], first.argmax(-1))


def test_guided_by_its_ar_source_equals_its_greedy_with_and_without_freecache():
    ar = tiny_llama()
    dlm = diffusion_lm_from_causal_lm(ar)
    greedy = ar.generate(ids(6, 1), max_new_tokens=8, do_sample=False)
    for freecache in (False, True):
        out, stats = diffusion_generate(
            dlm, ids(6, 1), max_new_tokens=8, block_length=4, guide=ar, freecache=freecache
        )
        assert torch.equal(out, greedy)
        assert 2 <= stats["denoiser_forwards"] <= 8 and stats["full_forwards"] == (
            2 if freecache else stats["denoiser_forwards"]
        )


def test_models_that_cannot_be_copied_are_refused():
    with pytest.raises(ValueError, match="bias"):
        diffusion_lm_from_causal_lm(tiny_llama(attention_bias=True))
    with pytest.raises(ValueError, match="tied"):
        diffusion_lm_from_causal_lm(tiny_llama(tie_word_embeddings=False))
    with pytest.raises(ValueError, match="Llama-shaped"):
        diffusion_lm_from_causal_lm(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="mask_token_id"):
        diffusion_lm_from_causal_lm(tiny_llama(), mask_token_id=VOCAB + 5)
    with pytest.raises(ValueError, match="num_key_value_heads"):
        modeling.DiffusionLMConfig(num_attention_heads=4, num_key_value_heads=3)


def test_training_script_saves_a_reloadable_model_with_its_card(tmp_path):
    from transformers import AutoModelForMaskedLM

    from hf_tokens.models.diffusion_lm.train import main

    args = ["--minutes", "0.001", "--hidden", "64", "--layers", "1", "--batch-size", "2", "--seq-len", "16"]
    folder = main([*args, "--chars", "20000", "--out", str(tmp_path / "dlm")])
    card = (folder / "README.md").read_text()
    assert "10 steps x 2 x 16 tokens of python-stdlib" in card and "--minutes 0.001" in card
    model = AutoModelForMaskedLM.from_pretrained(folder)
    assert model.config.mask_token_id == 49152 and not model.config.shift_logits
    with pytest.raises(ValueError, match="--minutes"):
        main(["--minutes", "0", "--out", str(tmp_path / "never")])
    assert not (tmp_path / "never").exists()
