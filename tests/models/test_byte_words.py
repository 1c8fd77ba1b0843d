"""The byte/word hierarchical models (learn-your-tokens, hierarchical-ar): word segmentation, pooling that respects
word boundaries, strict causality over bytes, training that lowers the loss, and clear errors."""

from __future__ import annotations

import pytest
import torch

from hf_tokens.models.byte_words import cut_words, segment
from hf_tokens.models.hierarchical_ar.modeling import HierarchicalARConfig, HierarchicalARForCausalLM
from hf_tokens.models.learn_your_tokens.modeling import LearnYourTokensConfig, LearnYourTokensForCausalLM

TINY = {"byte_dim": 16, "word_dim": 32, "heads": 2, "encoder_layers": 1, "backbone_layers": 1, "decoder_layers": 1,
        "max_word_bytes": 6, "max_words": 64}  # fmt: skip
MODELS = {
    "learn-your-tokens": lambda: LearnYourTokensForCausalLM(LearnYourTokensConfig(**TINY, num_cls=2)).eval(),
    "hierarchical-ar": lambda: HierarchicalARForCausalLM(HierarchicalARConfig(**TINY)).eval(),
}


def _ids(text: str) -> torch.Tensor:
    return torch.tensor([list(text.encode("utf-8"))])


def test_segment_ends_words_after_whitespace_and_at_the_cap():
    ids = list(b"ab cd\nefghijklm x ")
    words, complete = segment(ids, 4)
    assert [bytes(ids[s:e]) for s, e in words] == [b"ab ", b"cd\n", b"efgh", b"ijkl", b"m ", b"x "]
    assert complete
    words, complete = segment(list(b"ab c"), 4)
    assert [e - s for s, e in words] == [3, 1] and not complete


def test_cut_words_routes_each_byte_to_the_decoder_of_the_byte_after_it():
    batch = cut_words(_ids("ab cd"), 8)
    # bytes a, b: inside word 0; ' ' ends word 0 -> word 1 at offset 0; c: word 1 offset 1; d: word 1 offset 2
    assert batch.row.tolist() == [[0, 0, 1, 1, 1]] and batch.offset.tolist() == [[1, 2, 0, 1, 2]]
    assert batch.lengths.tolist() == [[3, 2]]


def test_word_pooling_respects_word_boundaries():
    """Learn Your Tokens: a word's pooled vector is a function of that word's bytes alone."""
    torch.manual_seed(0)
    model = MODELS["learn-your-tokens"]()
    a = model.core.word_vectors(_ids("the cat sat")[0])
    b = model.core.word_vectors(_ids("dog cat hat")[0])
    assert a.shape == (3, 32)
    torch.testing.assert_close(a[1], b[1], rtol=0, atol=1e-6)  # "cat " in both, neighbours differ
    assert not torch.allclose(a[0], b[0]) and not torch.allclose(a[2], b[2])


def test_hat_word_embedding_depends_only_on_its_word():
    torch.manual_seed(0)
    model = MODELS["hierarchical-ar"]()
    vec = {}
    for text in ("the cat sat", "dog cat hat"):
        vec[text] = model.core.encode_words(cut_words(_ids(text), 6))[0][0]
    torch.testing.assert_close(vec["the cat sat"][1], vec["dog cat hat"][1], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_logits_depend_only_on_earlier_bytes(name):
    torch.manual_seed(0)
    model = MODELS[name]()
    ids = _ids("the cat sat on a very-long-word\nok")
    with torch.no_grad():
        ref = model(ids).logits
        gen = torch.Generator().manual_seed(0)
        for t in range(ids.shape[1] - 1):
            other = ids.clone()
            other[0, t + 1 :] = torch.randint(0, 256, (ids.shape[1] - t - 1,), generator=gen)
            other[0, t + 1 :: 3] = 32  # and new word boundaries after t
            torch.testing.assert_close(model(other).logits[:, : t + 1], ref[:, : t + 1], rtol=0, atol=1e-5)
    assert ref.shape == (1, ids.shape[1], 256)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_few_training_steps_lower_the_loss(name):
    torch.manual_seed(0)
    model = MODELS[name]().train()
    ids = _ids("the cat sat on the mat. the cat sat on the mat. ")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = model(ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bad_inputs(name):
    model = MODELS[name]()
    with pytest.raises(ValueError, match="padding"):
        model(_ids("ab cd"), attention_mask=torch.tensor([[0, 1, 1, 1, 1]]))
    with pytest.raises(ValueError, match="byte ids"):
        model(torch.tensor([[300, 1]]))
    with pytest.raises(ValueError, match="max_words"):
        model(_ids("a " * 70))


@pytest.mark.parametrize("config_cls", [LearnYourTokensConfig, HierarchicalARConfig])
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"byte_dim": 0}, "byte_dim"), ({"heads": 3}, "multiple of heads"), ({"max_word_bytes": 1.5}, "max_word_bytes")],
)
def test_bad_configs(config_cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        config_cls(**kwargs)
