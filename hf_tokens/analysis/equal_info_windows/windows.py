"""Equal-Info Windows: text compressed by a small byte LM (M1) into windows of exactly ``window_bits`` bits each,
then cut into ``token_bits``-bit tokens for a second LM (M2) (Lester et al., "Training LLMs over Neurally Compressed
Text", arXiv:2404.03626).

Per window: M1's context is reset (it sees only the window's own bytes so far, as in the paper, so each window decodes
on its own), bytes are arithmetic-coded with M1's next-byte probabilities until one more byte would not fit in
``window_bits`` bits, and the window's code is the smallest ``window_bits``-bit value inside the final interval
(the paper's zero padding of a shorter code is one such value). Windows are therefore aligned with tokens: every
window is exactly ``window_bits / token_bits`` tokens.

Deviation (named): the paper does not say how a decoder knows how many bytes a window holds. Here each byte is preceded
by a continue/stop flag coded with a fixed probability (stop = ``2^-stop_bits``): the window ends with a stop flag,
which makes decoding exact and self-delimiting at a cost of about ``stop_bits + n * 1.44 * 2^-stop_bits`` bits per
window of ``n`` bytes. M1's probabilities are quantised to integer frequencies (``precision_bits``) with every byte
at least 1, and coding is exact integer arithmetic (:mod:`.coder`). M1 is run once per coded byte on the same
fixed-length input (the byte's prefix, zero-padded to ``max_window_bytes``) in encoder and decoder alike, so both
quantise bit-identical probabilities; one forward over the whole window would be cheaper for the encoder but is not
exact: models whose shapes depend on the content (word-pooled byte models) differ in the last float bit, which can
flip an integer frequency and break the round trip.

:func:`arithmetic_code_tokens` is the paper's plain arithmetic-coding baseline: fixed byte chunks coded with their
shortest code, codes concatenated into one bitstream and cut into tokens (nothing aligns tokens with text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from hf_tokens.analysis.equal_info_windows.coder import Interval, cumulative, find_slot, quantize


@dataclass
class EqualInfoWindowsConfig:
    """Equal-info windows over a byte LM (arXiv:2404.03626)."""

    window_bits: int = field(default=32, metadata={"help": "bits of every window (a multiple of token_bits)"})
    token_bits: int = field(default=8, metadata={"help": "bits per token of the compressed stream (vocab 2^bits)"})
    precision_bits: int = field(default=16, metadata={"help": "M1 probabilities as integers out of 2^precision"})
    stop_bits: int = field(default=4, metadata={"help": "a window's end flag costs about stop_bits bits"})
    max_window_bytes: int = field(default=64, metadata={"help": "most bytes a window may hold (M1 input length)"})

    def __post_init__(self) -> None:
        for name in ("window_bits", "token_bits", "precision_bits", "stop_bits", "max_window_bytes"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not 1 <= self.token_bits <= 20:
            raise ValueError(f"token_bits must be in [1, 20], got {self.token_bits}")
        if self.window_bits % self.token_bits:
            raise ValueError(f"window_bits ({self.window_bits}) must be a multiple of token_bits ({self.token_bits})")
        if self.precision_bits < 9:
            raise ValueError(
                f"precision_bits must be >= 9 (256 bytes, each frequency >= 1), got {self.precision_bits}"
            )
        if self.window_bits < self.precision_bits + self.stop_bits + 2:
            raise ValueError(
                "window_bits must be >= precision_bits + stop_bits + 2 so that any single byte fits in a window, got "
                f"{self.window_bits} < {self.precision_bits + self.stop_bits + 2}"
            )

    @property
    def tokens_per_window(self) -> int:
        return self.window_bits // self.token_bits


@dataclass
class EqualInfoEncoding:
    """Tokens of a text and how many bytes each window holds (for analysis; decoding does not need them)."""

    tokens: list[int]
    window_bytes: list[int]

    @property
    def num_windows(self) -> int:
        return len(self.window_bytes)


class ByteProbabilities:
    """Next-byte probabilities of a byte LM (M1) for a window's bytes, on fixed-length zero-padded inputs."""

    def __init__(self, model: Any, length: int) -> None:
        self.model, self.length = model, length

    @torch.no_grad()
    def __call__(self, window: bytes) -> torch.Tensor:
        """``[len(window) + 1, 256]``: row ``j`` is the distribution of byte ``j`` given ``window[:j]``."""
        ids = torch.zeros(1, self.length + 1, dtype=torch.long)
        ids[0, 1 : len(window) + 1] = torch.tensor(list(window), dtype=torch.long)
        ids[0, 0] = 0  # the window's start symbol (byte 0), the same in every window
        logits = self.model(input_ids=ids).logits[0, : len(window) + 1, :256]
        return torch.softmax(logits.float(), dim=-1)


class EqualInfoWindowsTokenizer:
    """text <-> tokens through M1 arithmetic coding in equal-information windows (a lossless round trip)."""

    def __init__(self, compressor: Any, config: EqualInfoWindowsConfig | None = None, **kwargs: Any) -> None:
        self.config = config if config is not None else EqualInfoWindowsConfig(**kwargs)
        if not callable(compressor):
            raise TypeError("compressor must be a byte-level LM (a callable returning .logits over >= 256 ids)")
        compressor.eval()
        self.probabilities = ByteProbabilities(compressor, self.config.max_window_bytes)

    @property
    def vocab_size(self) -> int:
        return 1 << self.config.token_bits

    def _flag(self, interval: Interval, stop: bool) -> Interval:
        s = self.config.stop_bits
        return interval.narrow(0, 1, s) if stop else interval.narrow(1, (1 << s) - 1, s)

    def _row(self, prefix: bytes) -> tuple[list[int], list[int]]:
        """Integer frequencies and cumulative counts of the byte after ``prefix`` (one M1 call on exactly the input
        the decoder will give it, so encoder and decoder quantise bit-identical probabilities)."""
        freq_row = quantize(self.probabilities(prefix)[len(prefix) : len(prefix) + 1], self.config.precision_bits)
        return freq_row[0].tolist(), cumulative(freq_row)[0].tolist()

    def encode_window(self, data: bytes) -> tuple[int, int]:
        """``(code, n)``: the ``window_bits``-bit code of the longest prefix ``data[:n]`` that fits (n >= 1)."""
        c = self.config
        chunk = data[: c.max_window_bytes]
        interval, best = Interval(), None
        for j, byte in enumerate(chunk):
            freq, cum = self._row(chunk[:j])
            interval = self._flag(interval, stop=False).narrow(cum[byte], freq[byte], c.precision_bits)
            code = self._flag(interval, stop=True).point(c.window_bits)
            if code is None:
                break
            best = (code, j + 1)
        if best is None:  # cannot happen: config validation guarantees a single byte fits
            raise RuntimeError("a single byte did not fit in a window")
        return best

    def decode_window(self, code: int) -> bytes:
        c = self.config
        out = bytearray()
        interval = Interval()
        s_total = 1 << c.stop_bits
        while True:
            slot = interval.locate(code, c.window_bits, c.stop_bits)
            if not 0 <= slot < s_total:
                raise ValueError("invalid window code")
            if slot == 0:
                return bytes(out)
            if len(out) >= c.max_window_bytes:
                raise ValueError("invalid window code: no end flag within max_window_bytes")
            interval = self._flag(interval, stop=False)
            freq, cum = self._row(bytes(out))
            byte = find_slot(cum, interval.locate(code, c.window_bits, c.precision_bits))
            interval = interval.narrow(cum[byte], freq[byte], c.precision_bits)
            out.append(byte)

    def encode(self, text: str | bytes) -> EqualInfoEncoding:
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        if not isinstance(text, (str, bytes, bytearray)):
            raise TypeError(f"text must be str or bytes, got {type(text).__name__}")
        tokens: list[int] = []
        sizes: list[int] = []
        pos = 0
        while pos < len(data):
            code, n = self.encode_window(data[pos:])
            tokens += self.window_tokens(code)
            sizes.append(n)
            pos += n
        return EqualInfoEncoding(tokens, sizes)

    def window_tokens(self, code: int) -> list[int]:
        """A window's code as ``tokens_per_window`` big-endian tokens."""
        c = self.config
        mask = (1 << c.token_bits) - 1
        return [(code >> (c.token_bits * i)) & mask for i in reversed(range(c.tokens_per_window))]

    def decode(self, tokens: list[int] | torch.Tensor) -> bytes:
        """The exact bytes :meth:`encode` was given."""
        c = self.config
        tokens = tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
        if len(tokens) % c.tokens_per_window:
            raise ValueError(f"len(tokens) must be a multiple of {c.tokens_per_window} (whole windows)")
        if any(not 0 <= t < self.vocab_size for t in tokens):
            raise ValueError(f"tokens must be in [0, {self.vocab_size})")
        out = bytearray()
        for w in range(0, len(tokens), c.tokens_per_window):
            code = 0
            for t in tokens[w : w + c.tokens_per_window]:
                code = (code << c.token_bits) | t
            out += self.decode_window(code)
        return bytes(out)


def arithmetic_code_tokens(
    compressor: Any, data: bytes, *, chunk_bytes: int = 64, token_bits: int = 8, precision_bits: int = 16
) -> tuple[list[int], int]:
    """The plain arithmetic-coding baseline: ``(tokens, bits)`` of ``data`` coded in chunks of ``chunk_bytes`` bytes
    (M1's context reset per chunk) with each chunk's shortest code, concatenated and cut into ``token_bits``-bit
    tokens (the last one zero-padded)."""
    if chunk_bytes < 1 or token_bits < 1:
        raise ValueError("chunk_bytes and token_bits must be >= 1")
    probabilities = ByteProbabilities(compressor, chunk_bytes)
    bits = []
    for start in range(0, len(data), chunk_bytes):
        chunk = data[start : start + chunk_bytes]
        freq = quantize(probabilities(chunk)[: len(chunk)], precision_bits)
        rows, picked = torch.arange(len(chunk)), torch.tensor(list(chunk), dtype=torch.long)
        interval = Interval()
        for f, c in zip(freq[rows, picked].tolist(), cumulative(freq)[rows, picked].tolist()):
            interval = interval.narrow(c, f, precision_bits)
        value, length = interval.shortest_code()
        bits.append(format(value, f"0{length}b") if length else "")
    stream = "".join(bits)
    stream += "0" * (-len(stream) % token_bits)
    return [int(stream[i : i + token_bits], 2) for i in range(0, len(stream), token_bits)], sum(map(len, bits))
