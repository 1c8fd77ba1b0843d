"""KL3M domain and character tokenizers: recipe, publishing, the boundary-consistency property, errors."""

from __future__ import annotations

import statistics

import pytest
from transformers import AutoTokenizer

from hf_tokens.assets.text import load_text
from hf_tokens.tokenizers.kl3m import (
    KL3MConfig,
    boundary_consistency,
    kl3m_custom_tokens,
    ocr_edit_pairs,
    save_kl3m_tokenizer,
    train_kl3m_char_tokenizers,
    train_kl3m_tokenizer,
)
from hf_tokens.tokenizers.train import KL3M_SPECIAL_TOKENS
from hf_tokens.tokenizers.vocab import surface_forms

LEGAL = load_text("licenses")


@pytest.fixture(scope="module")
def corpus():
    step = 20_000
    return [LEGAL[i : i + step] for i in range(0, 240_000, step)]


@pytest.fixture(scope="module")
def domain_tok(corpus):
    return train_kl3m_tokenizer(corpus, KL3MConfig(vocab_size=4096))


@pytest.fixture(scope="module")
def char_toks(corpus):
    return train_kl3m_char_tokenizers(corpus, (512, 1024, 2048))


def test_custom_tokens_follow_kl3m():
    tokens = kl3m_custom_tokens()
    for t in ("1776", "2049", "(a)", "(B)", "(99)", "(iv)", "(IV)", "999", "<div", "</div>", " href=", "\r\n", "```"):
        assert t in tokens
    assert "1775" not in tokens and "2050" not in tokens and "9" not in tokens
    assert all(len(t) > 1 for t in tokens) and tokens == sorted(set(tokens))
    assert all(t == t.lower() for t in kl3m_custom_tokens(lowercase=True))


def test_domain_tokenizer_recipe(domain_tok, tmp_path):
    tok = domain_tok
    assert len(tok) == 4096  # padded to the power of two it was asked for (pad2)
    assert tok.convert_ids_to_tokens(list(range(len(KL3M_SPECIAL_TOKENS)))) == list(KL3M_SPECIAL_TOKENS)
    text = "The Licensee shall, under Section 7(b), pay 1,250 EUR in 2019.\n\n  Café § 12 😀"
    assert tok.decode(tok(text)["input_ids"]) == text
    for unit in ("(b)", "2019", "(12)"):  # KL3M custom tokens stay whole
        assert len(tok(unit, add_special_tokens=False)["input_ids"]) == 1
    assert tok("License")["input_ids"] != tok("license")["input_ids"]  # cased
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(text)["input_ids"] == tok(text)["input_ids"] and len(again) == len(tok)
    assert again.padding_side == "left" and (again.sep_token, again.mask_token) == ("<|sep|>", "<|mask|>")
    batch = again(["a", "Licensor b"], padding=True)["input_ids"]
    assert batch[0][0] == again.pad_token_id and batch[1][0] != again.pad_token_id


def test_domain_tokenizer_beats_general_on_its_domain(domain_tok):
    held_out = LEGAL[240_000:300_000]
    gpt2_like = train_kl3m_tokenizer([load_text("fortunes")[:400_000]], KL3MConfig(vocab_size=4096))
    ours = len(domain_tok(held_out)["input_ids"])
    assert ours < 0.9 * len(gpt2_like(held_out)["input_ids"])


def test_char_tokenizers_cap_token_length(char_toks, tmp_path):
    assert sorted(char_toks) == [512, 1024, 2048]
    for size, tok in char_toks.items():
        assert len(tok) <= size
        vocab = surface_forms(tok)
        assert max(len(s) for i, s in enumerate(vocab.surfaces) if s and i not in vocab.special) == 3
    big = char_toks[2048]
    text = "Permission is hereby granted, free of charge"
    assert big.decode(big(text)["input_ids"]) == text
    big.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(text)["input_ids"] == big(text)["input_ids"]


def test_boundary_consistency_basics(char_toks):
    tok = char_toks[1024]
    same = boundary_consistency(tok, "the Licensor", "the Licensor")
    assert same.consistent and same.consistency == 1.0 and same.mismatched == 0
    report = boundary_consistency(tok, "shal1 be liable", "shall be liable")
    assert report.edit_text == (4, 5) and report.edit_corrected == (4, 5)
    assert report.to_dict()["consistent"] == report.consistent
    grown = boundary_consistency(tok, "the Licensee rnay not", "the Licensee may not")
    assert grown.edit_text == (13, 15) and grown.edit_corrected == (13, 14)
    assert boundary_consistency(tok, "the Licensee rnay not", "the Licensee may not", window=50).boundaries == 0


def test_char_tokenizers_keep_boundaries_more_often_than_domain_bpe(char_toks, domain_tok):
    held_out = [LEGAL[240_000 + i * 400 : 240_000 + (i + 1) * 400] for i in range(40)]
    pairs = ocr_edit_pairs(held_out, 150, seed=0)
    rate = {
        name: statistics.mean(boundary_consistency(tok, wrong, right).consistent for wrong, right in pairs)
        for name, tok in (("char", char_toks[2048]), ("domain", domain_tok))
    }
    assert rate["char"] > rate["domain"] + 0.1, rate
    assert rate["char"] > 0.7, rate


def test_ocr_edit_pairs_are_single_edits():
    pairs = ocr_edit_pairs(["modern lease 10 Old"], 20, seed=3)
    assert pairs == ocr_edit_pairs(["modern lease 10 Old"], 20, seed=3)
    for wrong, right in pairs:
        assert right == "modern lease 10 Old" and wrong != right
    with pytest.raises(ValueError, match="n must"):
        ocr_edit_pairs(["x"], 0)
    with pytest.raises(ValueError, match="could only"):
        ocr_edit_pairs(["xyz"], 3)


def test_save_with_card(domain_tok, tmp_path):
    folder = save_kl3m_tokenizer(domain_tok, tmp_path / "kl3m-4k", config=KL3MConfig(vocab_size=4096), name="kl3m-4k")
    card = (folder / "README.md").read_text()
    assert "kl3m-4k" in card and "2503.17247" in card and "vocab_size" in card
    assert AutoTokenizer.from_pretrained(folder)("Licensor")["input_ids"] == domain_tok("Licensor")["input_ids"]
    with pytest.raises(TypeError, match="PreTrainedTokenizerFast"):
        save_kl3m_tokenizer(object(), tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_clear_errors(char_toks):
    with pytest.raises(ValueError, match="empty corpus"):
        train_kl3m_tokenizer([], KL3MConfig(vocab_size=4096))
    with pytest.raises(ValueError, match="empty corpus"):
        train_kl3m_char_tokenizers(["", "  "], (512,))
    with pytest.raises(ValueError, match="below the alphabet"):
        KL3MConfig(vocab_size=1000)
    with pytest.raises(ValueError, match="below the alphabet"):
        train_kl3m_char_tokenizers(["abc"], (200,))
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        train_kl3m_tokenizer(["ok", 3], KL3MConfig(vocab_size=4096))
    with pytest.raises(TypeError, match="not one string"):
        train_kl3m_char_tokenizers("abc", (512,))
    with pytest.raises(TypeError, match="KL3MConfig"):
        train_kl3m_tokenizer(["abc"], {"vocab_size": 4096})
    with pytest.raises(ValueError, match="min_frequency"):
        KL3MConfig(min_frequency=0)
    with pytest.raises(TypeError, match="corrected must be a str"):
        boundary_consistency(char_toks[512], "abc", None)
    with pytest.raises(ValueError, match="window"):
        boundary_consistency(char_toks[512], "abc", "abd", window=-1)
