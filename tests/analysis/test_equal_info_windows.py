"""Equal-info windows (arXiv:2404.03626): exact round trip, every window the same bit length and maximally filled,
windows decodable on their own, the exact interval arithmetic, the plain arithmetic-coding baseline, bad configs."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import pytest
import torch

from hf_tokens.analysis.equal_info_windows import (
    EqualInfoWindowsConfig,
    EqualInfoWindowsTokenizer,
    arithmetic_code_tokens,
    compression_report,
)
from hf_tokens.analysis.equal_info_windows.coder import Interval, quantize

TEXT = (
    "The quick brown fox jumps over the lazy dog. def main():\n    return 0\n"
    "Ünïcödé bytes \u2603 and raw \x00\x01 control characters, then the end."
)


class BigramLM(torch.nn.Module):
    """A byte LM whose logits depend on the previous byte only, from smoothed bigram counts of a text."""

    def __init__(self, text: str):
        super().__init__()
        data = text.encode("utf-8")
        counts = torch.ones(256, 256)
        for a, b in itertools.pairwise(data):
            counts[a, b] += 20
        self.table = torch.nn.Parameter(counts.log_softmax(-1), requires_grad=False)

    def forward(self, input_ids):
        return SimpleNamespace(logits=self.table[input_ids])


@pytest.fixture(scope="module")
def tok():
    return EqualInfoWindowsTokenizer(BigramLM(TEXT * 3), window_bits=32, token_bits=8)


def _window_codes(tok, tokens):
    per = tok.config.tokens_per_window
    codes = []
    for w in range(0, len(tokens), per):
        code = 0
        for t in tokens[w : w + per]:
            code = (code << tok.config.token_bits) | t
        codes.append(code)
    return codes


def test_round_trip_is_exact(tok):
    for text in (TEXT, "a", TEXT[:7], "\u2603" * 5):
        enc = tok.encode(text)
        assert tok.decode(enc.tokens) == text.encode("utf-8")
        assert sum(enc.window_bytes) == len(text.encode("utf-8"))
    assert tok.decode(torch.tensor(tok.encode(TEXT).tokens)) == TEXT.encode("utf-8")


class FutureSensitiveLM(BigramLM):
    """A bigram LM whose logits also move by a tiny amount with the bytes *after* each position, as a word-pooled byte
    model's do in the last float bit (its shapes depend on where the words end)."""

    def forward(self, input_ids):
        logits = self.table[input_ids]
        shift = torch.zeros_like(logits)
        shift[..., :128] = 0.05 * (input_ids.sum(-1) % 7).float()[..., None, None]
        return SimpleNamespace(logits=logits + shift)


def test_round_trip_is_exact_when_the_compressor_is_not_prefix_exact():
    tok = EqualInfoWindowsTokenizer(FutureSensitiveLM(TEXT * 3), window_bits=32, token_bits=8)
    for text in (TEXT, TEXT[::-1], "ab " * 30):
        assert tok.decode(tok.encode(text).tokens) == text.encode("utf-8")


def test_every_window_has_the_same_bit_length_and_is_filled_greedily(tok):
    data = TEXT.encode("utf-8")
    enc = tok.encode(data)
    per = tok.config.tokens_per_window
    assert len(enc.tokens) == per * enc.num_windows
    assert all(0 <= t < 256 for t in enc.tokens)
    assert max(enc.window_bytes) > 2, "a bigram M1 should pack several bytes per 32-bit window"
    pos = 0
    for code, n in zip(_window_codes(tok, enc.tokens), enc.window_bytes):
        assert code < 2**32
        # each window decodes on its own (M1's context reset), to exactly its bytes
        assert tok.decode_window(code) == data[pos : pos + n]
        # and one more byte would not have fit in 32 bits (unless the text ended or max_window_bytes was reached)
        if pos + n < len(data) and n < tok.config.max_window_bytes:
            assert tok.encode_window(data[pos : pos + n + 1]) == (code, n)
        pos += n


def test_windows_are_longer_when_m1_predicts_better():
    good = EqualInfoWindowsTokenizer(BigramLM(TEXT * 3), window_bits=32)
    uniform = EqualInfoWindowsTokenizer(BigramLM(""), window_bits=32)
    assert good.encode(TEXT).num_windows < uniform.encode(TEXT).num_windows


def test_wider_windows_and_tokens(tok):
    wide = EqualInfoWindowsTokenizer(tok.probabilities.model, window_bits=64, token_bits=16)
    enc = wide.encode(TEXT)
    assert len(enc.tokens) == 4 * enc.num_windows and max(enc.tokens) < 2**16
    assert wide.decode(enc.tokens) == TEXT.encode("utf-8")


def test_interval_arithmetic_is_exact():
    iv = Interval()
    freq = quantize(torch.tensor([0.5, 0.25, 0.125, 0.125]), 10).tolist()
    assert sum(freq) == 1024 and min(freq) >= 1
    for sym in (1, 3, 0, 2):
        iv = iv.narrow(sum(freq[:sym]), freq[sym], 10)
    value, length = iv.shortest_code()
    assert iv.low * 2**length <= value * 2**iv.bits < (iv.low + iv.width) * 2**length
    assert length <= math.ceil(iv.bits - math.log2(iv.width)) + 1
    assert iv.point(length - 1) is None or length == 0  # nothing shorter fits
    # the decoder's slot of the code is the symbol's range at every step
    iv2 = Interval()
    for sym in (1, 3, 0, 2):
        slot = iv2.locate(value, length, 10)
        assert sum(freq[:sym]) <= slot < sum(freq[: sym + 1])
        iv2 = iv2.narrow(sum(freq[:sym]), freq[sym], 10)


def test_quantize_gives_the_same_row_alone_or_in_a_batch():
    probs = torch.softmax(torch.randn(64, 256, generator=torch.Generator().manual_seed(0)) * 4, -1)
    batch = quantize(probs, 16)
    assert (batch.sum(-1) == 2**16).all() and (batch >= 1).all()
    for i in range(64):
        assert torch.equal(quantize(probs[i : i + 1], 16)[0], batch[i])


def test_plain_arithmetic_coding_baseline(tok):
    data = TEXT.encode("utf-8")
    tokens, bits = arithmetic_code_tokens(tok.probabilities.model, data, chunk_bytes=32)
    assert len(tokens) == math.ceil(bits / 8) and all(0 <= t < 256 for t in tokens)
    eiw = tok.encode(data)
    assert bits < 32 * eiw.num_windows  # no per-window padding or end flags: denser than the windows


def test_compression_report(tok):
    report = compression_report(tok, TEXT)
    assert report["round_trip_exact"] is True
    assert report["bits_per_byte"] >= report["m1_bits_per_byte"]  # windows pay for padding and end flags
    assert report["windows"] * 4 == report["tokens"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"window_bits": 30, "token_bits": 8}, "multiple of token_bits"),
        ({"window_bits": 16}, "any single byte fits"),
        ({"precision_bits": 8}, "precision_bits"),
        ({"token_bits": 0}, "token_bits"),
        ({"max_window_bytes": 0}, "max_window_bytes"),
    ],
)
def test_bad_configs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EqualInfoWindowsConfig(**kwargs)


def test_bad_inputs(tok):
    with pytest.raises(ValueError, match="multiple of 4"):
        tok.decode([1, 2, 3])
    with pytest.raises(ValueError, match="tokens must be in"):
        tok.decode([0, 0, 0, 300])
    with pytest.raises(TypeError, match="text must be"):
        tok.encode(123)
    with pytest.raises(TypeError, match="compressor"):
        EqualInfoWindowsTokenizer(object())
