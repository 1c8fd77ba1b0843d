"""Supertoken BPE: chunked pre-tokenization lets tokens cross word boundaries and compresses better."""

from __future__ import annotations

import random

import pytest

from hf_tokens.tokenizers.supertokens import (
    PAPER_CHUNK_LENGTHS,
    SupertokenConfig,
    boundary_crossing_rate,
    chars_per_token,
    parse_range,
    sample_chunks,
    train_supertokens,
)
from hf_tokens.tokenizers.train import BPETrainingConfig, train_bpe
from hf_tokens.tokenizers.vocab import surface_forms

SENTENCES = [
    "the cat sat on the mat and looked at the dog.",
    "one of the most common phrases in the corpus is one of the.",
    "it is said that the dog went to the park in the morning.",
    "we want to be able to compress text that is written in English.",
    "as a matter of fact, most of the time the tokens are words.",
]


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(SENTENCES) for _ in range(8)) for _ in range(n)]


def test_chunks_cover_the_text_with_lengths_from_the_distribution():
    text = " ".join(SENTENCES) * 3
    rng = random.Random(0)
    chunks = sample_chunks(text, PAPER_CHUNK_LENGTHS, rng)
    assert "".join(chunks) == text
    low, high = 4, 23
    assert all(low <= len(c) <= high for c in chunks[:-1])
    assert parse_range("4-5") == (4, 5) and parse_range("7") == (7, 7)


def test_crossing_probability_is_controlled_by_the_chunk_lengths():
    texts = _corpus(20, 0)
    never = boundary_crossing_rate(texts, SupertokenConfig(chunk_lengths={"1-1": 1.0}))
    short = boundary_crossing_rate(texts, SupertokenConfig(chunk_lengths={"2-4": 1.0}))
    paper = boundary_crossing_rate(texts)
    assert never == 0.0
    assert 0.0 < short < paper < 1.0


def test_supertokens_span_words_and_compress_better_than_plain_bpe():
    train, held_out = _corpus(200, 1), _corpus(20, 2)
    config = SupertokenConfig(vocab_size=600, min_frequency=2)
    super_tok = train_supertokens(train, config)
    plain = train_bpe(train, BPETrainingConfig(vocab_size=600, min_frequency=2))

    def multi_word(tok):
        vocab = surface_forms(tok)
        return [s for s in vocab.surfaces if s and b" " in s.strip() and s.strip(b" ")]

    assert len(multi_word(super_tok)) > 20
    assert multi_word(plain) == []
    assert chars_per_token(super_tok, held_out) > 1.1 * chars_per_token(plain, held_out)
    for text in [*held_out[:3], "Unseen words: zebra été 中文 \n\ttabs"]:
        ids = super_tok(text, add_special_tokens=False)["input_ids"]
        assert super_tok.decode(ids) == text


def test_save_and_reload(tmp_path):
    from transformers import AutoTokenizer

    tok = train_supertokens(_corpus(50, 3), SupertokenConfig(vocab_size=400))
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    text = SENTENCES[0]
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert again.eos_token == "<|endoftext|>"


@pytest.mark.parametrize(
    "bad",
    [{"chunk_lengths": {}}, {"chunk_lengths": {"5-2": 1.0}}, {"chunk_lengths": {"a-b": 1.0}},
     {"chunk_lengths": {"3-4": -1.0}}, {"vocab_size": 10}, {"eos_token": "<missing>"}],
)  # fmt: skip
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        SupertokenConfig(**bad)


def test_one_string_is_not_a_corpus():
    with pytest.raises(TypeError, match="iterable of strings"):
        train_supertokens("just one string")
