"""The BPE training helpers (KL3M recipe): special tokens, length caps, power-of-two padding, round trips."""

from __future__ import annotations

import pytest

from hf_tokens.tokenizers.train import KL3M_SPECIAL_TOKENS, BPETrainingConfig, train_bpe, train_char_bpe
from hf_tokens.tokenizers.vocab import surface_forms

TEXT = [
    "The lessee shall pay the rent on the first day of each month. " * 4,
    "Section 2(a) of the Agreement; the Licensor grants a non-exclusive licence. " * 4,
    "Revenue increased 12.5% year over year to $4.2 billion in fiscal 2024. " * 4,
]


def test_train_bpe_kl3m_defaults(tmp_path):
    from transformers import AutoTokenizer

    tok = train_bpe(TEXT, BPETrainingConfig(vocab_size=400, min_frequency=1))
    assert [tok.convert_ids_to_tokens(i) for i in range(len(KL3M_SPECIAL_TOKENS))] == list(KL3M_SPECIAL_TOKENS)
    assert (tok.bos_token, tok.eos_token, tok.pad_token, tok.unk_token) == (
        "<|start|>", "<|end|>", "<|pad|>", "<|unk|>",
    )  # fmt: skip
    assert 256 + len(KL3M_SPECIAL_TOKENS) < len(tok) <= 400  # data-limited: fewer merges than asked for
    for text in [*TEXT, "café § 12 😀"]:
        assert tok.decode(tok(text)["input_ids"]) == text
    tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path)(TEXT[0])["input_ids"] == tok(TEXT[0])["input_ids"]


@pytest.mark.parametrize("max_chars", [2, 3, 4])
def test_char_bpe_caps_token_length(max_chars):
    tok = train_char_bpe(TEXT, 1024, max_chars=max_chars)
    vocab = surface_forms(tok)
    lengths = [len(s) for i, s in enumerate(vocab.surfaces) if s and i not in vocab.special]
    assert max(lengths) == max_chars


def test_pad_to_power_of_two_and_lowercase():
    tok = train_bpe(TEXT, BPETrainingConfig(vocab_size=300, min_frequency=1, pad_to_power_of_two=True, lowercase=True))
    assert len(tok) == 512
    assert tok("THE LESSEE")["input_ids"] == tok("the lessee")["input_ids"]
    spaces = tok(" " * 7, add_special_tokens=False)["input_ids"]
    assert len(spaces) == 1


@pytest.mark.parametrize(
    "bad",
    [{"vocab_size": 100}, {"min_frequency": 0}, {"max_token_length": 1}, {"normalization": "nfx"},
     {"eos_token": "<eos>"}, {"special_tokens": ("<a>", "<a>")}],
)  # fmt: skip
def test_bad_config_raises(bad):
    with pytest.raises(ValueError):
        BPETrainingConfig(**bad)
