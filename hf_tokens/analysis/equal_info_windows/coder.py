"""Exact (integer, arbitrary-precision) arithmetic coding: the interval arithmetic under equal-info windows.

An interval is ``[low / 2^D, (low + width) / 2^D)`` held as Python integers, so nothing is rounded: coding a symbol
with integer frequencies ``(cum, freq)`` out of ``2^t`` multiplies the denominator by ``2^t``. Encoder and decoder
share :func:`quantize` (model probabilities -> integer frequencies, every byte at least 1), so the decoder recovers
the symbols exactly as long as it sees the same probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Interval:
    low: int = 0
    width: int = 1
    bits: int = 0  # D: the interval is [low, low + width) / 2**bits

    def narrow(self, cum: int, freq: int, total_bits: int) -> Interval:
        """The sub-interval of the symbol with cumulative frequency ``cum`` and frequency ``freq`` out of
        ``2**total_bits``."""
        return Interval((self.low << total_bits) + cum * self.width, self.width * freq, self.bits + total_bits)

    def point(self, n_bits: int) -> int | None:
        """The smallest ``n_bits``-bit integer ``v`` with ``v / 2^n_bits`` inside the interval, or None if none is."""
        v = -((-self.low << n_bits) >> self.bits)  # ceil(low * 2^n / 2^D)
        return v if (v << self.bits) < ((self.low + self.width) << n_bits) else None

    def shortest_code(self) -> tuple[int, int]:
        """``(value, length)``: the shortest binary fraction ``value / 2^length`` inside the interval."""
        length = max(0, self.bits - self.width.bit_length())
        while True:
            v = self.point(length)
            if v is not None:
                return v, length
            length += 1

    def locate(self, value: int, n_bits: int, total_bits: int) -> int:
        """Where the point ``value / 2^n_bits`` falls among the ``2**total_bits`` frequency slots of this interval
        (the decoder's ``floor((x - low) * 2^t / width)``)."""
        num = (value << (self.bits + total_bits)) - (self.low << (total_bits + n_bits))
        return num // (self.width << n_bits)


def quantize(probs: torch.Tensor, precision_bits: int) -> torch.Tensor:
    """Integer frequencies ``[..., n]`` summing to ``2**precision_bits`` per row, each >= 1, from probability rows.

    Only elementwise float64 math and integer sums, so a row gives the same table alone or inside a batch (the
    encoder quantises a whole window at once, the decoder one row at a time): ``floor(p * (2^P - n)) + 1``, and the
    integer remainder goes to the first largest entry.
    """
    total = 1 << precision_bits
    n = probs.shape[-1]
    if total < 2 * n:
        raise ValueError(f"precision_bits={precision_bits} is too small for {n} symbols")
    freq = (probs.detach().double().clamp(0, 1) * (total - n)).floor().long() + 1
    top = freq.argmax(dim=-1, keepdim=True)
    return freq.scatter_add(-1, top, total - freq.sum(-1, keepdim=True))


def cumulative(freq: torch.Tensor) -> torch.Tensor:
    """Exclusive cumulative sums of frequency rows."""
    return freq.cumsum(-1) - freq


def find_slot(cum: list[int], slot: int) -> int:
    """The symbol whose range ``[cum[s], cum[s] + freq[s])`` holds ``slot`` (``cum`` ascending)."""
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cum[mid] <= slot:
            lo = mid
        else:
            hi = mid - 1
    return lo
