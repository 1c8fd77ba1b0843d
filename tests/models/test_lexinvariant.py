"""Lexinvariant LM (arXiv:2305.16349): per-sequence random embeddings, consistent within a sequence and independent
across sequences, exact equivariance under a relabelling of the vocabulary, and clear errors."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.models.lexinvariant.modeling import TINY, LexinvariantConfig, LexinvariantForCausalLM, random_embeddings


@pytest.fixture
def model():
    torch.manual_seed(0)
    return LexinvariantForCausalLM(LexinvariantConfig(**TINY)).eval()


def _inputs_embeds(model, ids, **kwargs):
    seen = {}
    handle = model.model.register_forward_pre_hook(
        lambda mod, args, kw: seen.update(x=kw["inputs_embeds"]), with_kwargs=True
    )
    try:
        with torch.no_grad():
            model(ids, **kwargs)
    finally:
        handle.remove()
    return seen["x"]


def test_same_token_same_vector_within_a_sequence(model):
    ids = torch.tensor([[5, 7, 5, 9, 7, 5], [5, 7, 5, 9, 7, 5]])
    x = _inputs_embeds(model, ids)
    for row in range(2):
        torch.testing.assert_close(x[row, 0], x[row, 2], rtol=0, atol=0)
        torch.testing.assert_close(x[row, 1], x[row, 4], rtol=0, atol=0)
        assert not torch.allclose(x[row, 0], x[row, 1])


def test_vectors_are_independent_across_sequences(model):
    ids = torch.tensor([[5, 7, 9, 11]] * 2)
    x = _inputs_embeds(model, ids)  # eval: row seeds differ
    cos = torch.nn.functional.cosine_similarity(x[0], x[1], dim=-1)
    assert cos.abs().max() < 0.8 and cos.abs().mean() < 0.4
    # training: a fresh draw per call; eval: the same seeded draw every call (generate, save/load)
    model.train()
    assert not torch.allclose(_inputs_embeds(model, ids), _inputs_embeds(model, ids))
    model.eval()
    torch.testing.assert_close(_inputs_embeds(model, ids), x, rtol=0, atol=0)


def test_random_embeddings_are_gaussian_with_the_stated_scale():
    e = random_embeddings([1, 2], 2000, 64)
    assert e.shape == (2, 2000, 64)
    assert abs(float(e.std()) - 64**-0.5) < 0.01 and abs(float(e.mean())) < 0.01
    c = torch.corrcoef(torch.stack([e[0].flatten(), e[1].flatten()]))[0, 1]
    assert abs(float(c)) < 0.01
    torch.testing.assert_close(random_embeddings([1], 2000, 64)[0], e[0], rtol=0, atol=0)


def test_relabelling_the_vocabulary_relabels_the_logits(model):
    """Lexinvariance: with embeddings that follow a permutation of token ids, the model's prediction is the same up to
    the permutation, exactly: nothing in the model is tied to a token's identity."""
    vocab = model.config.vocab_size
    perm = torch.randperm(vocab, generator=torch.Generator().manual_seed(1))
    ids = torch.randint(0, vocab, (2, 10), generator=torch.Generator().manual_seed(2))
    e = random_embeddings([3, 4], vocab, model.config.hidden_size)
    e_perm = torch.empty_like(e)
    e_perm[:, perm] = e  # token perm[v] gets v's vector
    with torch.no_grad():
        ref = model(ids, embeddings=e).logits
        out = model(perm[ids], embeddings=e_perm).logits
    torch.testing.assert_close(out[..., perm], ref, rtol=1e-5, atol=1e-5)


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="embedding_seed must be an int or one seed per row"):
        model(torch.tensor([[1, 2]]), embedding_seed=[1, 2])
    with pytest.raises(ValueError, match="embeddings must be"):
        model(torch.tensor([[1, 2]]), embeddings=torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match="embedding_seed"):
        LexinvariantConfig(embedding_seed=-1)
