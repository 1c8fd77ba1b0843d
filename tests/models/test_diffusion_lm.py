"""The masked diffusion LM (LLaDA loss, bidirectional attention), its unmasking sampler, FreeCache and Guided
Diffusion, on tiny models built in code."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

from hf_tokens.models.diffusion_lm.modeling import (
    TINY,
    DiffusionLMConfig,
    DiffusionLMForMaskedLM,
    masked_diffusion_loss,
)
from hf_tokens.models.diffusion_lm.sampling import diffusion_generate

MASK = TINY["mask_token_id"]


def tiny_dlm(seed: int = 0) -> DiffusionLMForMaskedLM:
    torch.manual_seed(seed)
    return DiffusionLMForMaskedLM(DiffusionLMConfig(**TINY)).eval()


def tiny_guide(vocab: int = MASK, seed: int = 1) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    return LlamaForCausalLM(config).eval()


def prompt(length: int = 7, batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, MASK, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_attention_is_bidirectional():
    model = tiny_dlm()
    ids = prompt(9)
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % MASK
    with torch.no_grad():
        a, b = model(ids).logits, model(changed).logits
    assert not torch.allclose(a[0, 0], b[0, 0]), "the first position does not see the last token"


def test_llada_loss_is_one_over_t_weighted_ce_on_masked_tokens():
    model = tiny_dlm()
    ids = prompt(12, batch=3)
    loss = masked_diffusion_loss(model, ids, generator=torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)  # redraw the same t and mask
    t = 1e-3 + (1 - 1e-3) * torch.rand(3, 1, generator=gen)
    masked = torch.rand(3, 12, generator=gen) < t
    noisy = torch.where(masked, torch.full_like(ids, MASK), ids)
    logits = model(noisy).logits
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids.reshape(-1), reduction="none").view(3, 12)
    expected = (nll * masked / t).sum() / ids.numel()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    loss.backward()
    assert model.embed_tokens.weight.grad is not None


def test_cached_forward_with_a_fresh_cache_equals_the_full_forward():
    model = tiny_dlm()
    ids = torch.cat([prompt(8), torch.full((1, 6), MASK)], dim=1)
    active = torch.arange(8, 11)
    with torch.no_grad():
        full, kv = model.hidden(ids)
        part, _ = model.hidden(ids, active=active, kv=kv)
    torch.testing.assert_close(part, full[:, active], rtol=1e-5, atol=1e-5)


def test_plain_sampler_unmasks_on_schedule_and_keeps_the_prompt():
    model = tiny_dlm()
    ids = prompt(5, batch=2)
    out, stats = diffusion_generate(model, ids, max_new_tokens=12, steps=6, block_length=4)
    assert out.shape == (2, 17) and torch.equal(out[:, :5], ids)
    assert not bool((out == MASK).any())
    assert stats["denoiser_forwards"] == 6 and stats["full_forwards"] == 6  # 3 blocks x 2 steps, 2 tokens a step
    batched = model.generate(ids, max_new_tokens=12, steps=6, block_length=4)
    assert torch.equal(batched[1:], model.generate(ids[1:], max_new_tokens=12, steps=6, block_length=4))


def test_freecache_refreshed_every_step_equals_the_uncached_sampler():
    model = tiny_dlm()
    ids = prompt(6, batch=2)
    kwargs = {"max_new_tokens": 12, "steps": 12, "block_length": 6}
    plain, _ = diffusion_generate(model, ids, **kwargs)
    refreshed, stats = diffusion_generate(model, ids, freecache=True, refresh_every=1, **kwargs)
    assert torch.equal(plain, refreshed) and stats["full_forwards"] == 12
    cached, stats = diffusion_generate(model, ids, freecache=True, **kwargs)
    assert stats["full_forwards"] == 2 and stats["denoiser_forwards"] == 12  # one refresh per block
    assert torch.equal(cached[:, :6], ids) and not bool((cached == MASK).any())


def test_guided_sampler_commits_at_least_one_token_per_step_and_equals_the_guide_greedy():
    model, guide = tiny_dlm(), tiny_guide()
    ids = prompt(6)
    out, stats = diffusion_generate(model, ids, max_new_tokens=10, block_length=5, guide=guide)
    assert not bool((out == MASK).any()) and torch.equal(out[:, :6], ids)
    assert 1 <= stats["denoiser_forwards"] <= 10 and stats["guide_forwards"] == stats["denoiser_forwards"]
    # every committed token is the guide's greedy choice after the committed prefix: the guide's own greedy output
    greedy = guide.generate(ids, max_new_tokens=10, do_sample=False)
    assert torch.equal(out, greedy)


def test_guided_sampler_takes_fewer_steps_when_the_guide_agrees():
    model = tiny_dlm()
    ids = prompt(6)

    class Agreeing(torch.nn.Module):  # a guide whose greedy choice is always the denoiser's left-to-right draft
        config = LlamaConfig(vocab_size=MASK)

        def get_output_embeddings(self):
            return None

        def forward(self, input_ids, use_cache=True, **kwargs):
            logits = F.one_hot(torch.roll(input_ids, -1, dims=1), MASK).float()
            return type("Out", (), {"logits": logits, "past_key_values": None, "cache": None})()

    out, stats = diffusion_generate(model, ids, max_new_tokens=8, block_length=8, guide=Agreeing())
    assert stats["denoiser_forwards"] == 1 and not bool((out == MASK).any())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 0}, ValueError, "steps must be an int >= 1"),
        ({"max_new_tokens": 0}, ValueError, "max_new_tokens"),
        ({"block_length": -1}, ValueError, "block_length"),
        ({"do_sample": True}, ValueError, "do_sample"),
        ({"refresh_every": -1}, ValueError, "refresh_every"),
        ({"max_new_tokens": 100}, ValueError, "max_position_embeddings"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        diffusion_generate(tiny_dlm(), prompt(), **kwargs)


def test_missing_mask_token_and_foreign_guide_are_refused():
    model = tiny_dlm()
    with pytest.raises(ValueError, match="guide has a vocabulary of 50"):
        diffusion_generate(model, prompt(), guide=tiny_guide(vocab=50))
    with pytest.raises(ValueError, match="mask token"):
        diffusion_generate(model, torch.full((1, 3), MASK))
    with pytest.raises(ValueError, match="one sequence at a time"):
        diffusion_generate(model, prompt(batch=2), guide=tiny_guide())
    model.config.mask_token_id = None
    with pytest.raises(ValueError, match="no mask_token_id"):
        diffusion_generate(model, prompt())
    with pytest.raises(ValueError, match="mask_token_id must be"):
        DiffusionLMConfig(**{**TINY, "mask_token_id": 97})
