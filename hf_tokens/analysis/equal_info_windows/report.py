"""A JSON compression report of equal-info windows over a text (the method's analysis contract)."""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.analysis.equal_info_windows.coder import quantize
from hf_tokens.analysis.equal_info_windows.windows import EqualInfoWindowsTokenizer


def compression_report(tokenizer: EqualInfoWindowsTokenizer, text: str | bytes) -> dict[str, Any]:
    """Windows, bytes per window, bits per byte of the windowed code (and of M1 itself) and an exact round trip."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    enc = tokenizer.encode(data)
    c = tokenizer.config
    ideal = 0.0  # M1's own code length of the windows' bytes (quantised, context reset per window), in bits
    pos = 0
    for n in enc.window_bytes:
        freq = quantize(tokenizer.probabilities(data[pos : pos + n])[:n], c.precision_bits)
        picked = freq[torch.arange(n), torch.tensor(list(data[pos : pos + n]))]
        ideal += float((c.precision_bits - picked.double().log2()).sum())
        pos += n
    return {
        "config": {k: getattr(c, k) for k in ("window_bits", "token_bits", "precision_bits", "stop_bits")},
        "bytes": len(data),
        "windows": enc.num_windows,
        "tokens": len(enc.tokens),
        "bytes_per_window": len(data) / enc.num_windows,
        "bits_per_byte": c.window_bits * enc.num_windows / len(data),
        "m1_bits_per_byte": ideal / len(data),
        "round_trip_exact": tokenizer.decode(enc.tokens) == data,
    }


def contract() -> dict[str, Any]:
    def make_report(seed: int) -> dict[str, Any]:
        from hf_tokens.models.lm_training import tiny_llama

        torch.manual_seed(seed)
        m1 = tiny_llama(256, hidden=16, layers=1, heads=2, max_len=40)
        tok = EqualInfoWindowsTokenizer(m1, window_bits=24, token_bits=8, precision_bits=12, max_window_bytes=32)
        return compression_report(tok, "Equal-info windows: every window carries 24 bits.")

    return {"make_report": make_report}
