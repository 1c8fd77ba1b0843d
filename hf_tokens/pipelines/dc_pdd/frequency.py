"""DC-PDD's reference token-frequency distribution: token counts of a reference corpus under the model's tokenizer.

The paper counts tokens over a large public corpus (C4 / a Chinese web corpus), each document cut to its first
``max_tokens`` (1024) tokens, and smooths with Laplace (add-one): ``f(x) = (count(x) + 1) / (N + |V|)``. Here the
corpus is the offline text of :mod:`hf_tokens.assets.text` (or any texts you pass), counted the same way.

    freq = TokenFrequency.from_texts(tokenizer, texts, vocab_size=model.config.vocab_size)
    freq = TokenFrequency.from_corpora(tokenizer, vocab_size=..., corpora=("jargon", "fortunes"))
    freq.save("freq.safetensors"); TokenFrequency.load("freq.safetensors")
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

FORMAT = "hf_tokens.dc_pdd.token_frequency"
DEFAULT_CORPORA = ("jargon", "fortunes", "licenses", "python-stdlib")


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


@dataclass
class TokenFrequency:
    """Token counts ``[V]`` (int64) of a reference corpus and where they came from."""

    counts: torch.Tensor
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.counts, torch.Tensor) or self.counts.ndim != 1 or self.counts.is_floating_point():
            raise TypeError("counts must be a 1-D integer tensor with one count per vocabulary entry")
        if self.counts.numel() == 0 or bool((self.counts < 0).any()):
            raise ValueError("counts must be non-empty and non-negative")

    @property
    def vocab_size(self) -> int:
        return int(self.counts.numel())

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def probabilities(self) -> torch.Tensor:
        """Laplace-smoothed frequencies ``(count + 1) / (N + |V|)`` (float64, sums to 1, never 0)."""
        c = self.counts.to(torch.float64)
        return (c + 1.0) / (c.sum() + c.numel())

    @classmethod
    def from_texts(
        cls, tokenizer: Any, texts: Iterable[str], *, vocab_size: int, max_tokens: int = 1024, batch: int = 256
    ) -> TokenFrequency:
        """Count the tokens of ``texts`` (each cut to its first ``max_tokens`` tokens, as the paper does)."""
        _check_int("vocab_size", vocab_size, 1)
        _check_int("max_tokens", max_tokens, 1)
        counts = torch.zeros(vocab_size, dtype=torch.int64)
        docs = 0
        pending: list[str] = []

        def flush() -> None:
            for ids in tokenizer(pending, add_special_tokens=False)["input_ids"]:
                t = torch.tensor(ids[:max_tokens], dtype=torch.int64)
                if t.numel() and (int(t.max()) >= vocab_size or int(t.min()) < 0):
                    raise ValueError(f"the tokenizer produced ids outside [0, {vocab_size}): it is not this model's")
                counts.add_(torch.bincount(t, minlength=vocab_size))
            pending.clear()

        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"texts must be strings, got {type(text).__name__}")
            if text:
                pending.append(text)
                docs += 1
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
        if docs == 0:
            raise ValueError("texts is empty: the reference distribution needs at least one non-empty text")
        meta = {"documents": docs, "max_tokens": max_tokens, "tokenizer": getattr(tokenizer, "name_or_path", "")}
        return cls(counts, meta)

    @classmethod
    def from_corpora(
        cls,
        tokenizer: Any,
        *,
        vocab_size: int,
        corpora: Sequence[str] = DEFAULT_CORPORA,
        doc_chars: int = 4000,
        max_chars: int = 2_000_000,
        max_tokens: int = 1024,
    ) -> TokenFrequency:
        """Count over the offline corpora of :mod:`hf_tokens.assets.text`, split into documents of ``doc_chars``
        characters, at most ``max_chars`` characters per corpus (the first ones: deterministic)."""
        from hf_tokens.assets.text import load_text

        _check_int("doc_chars", doc_chars, 1)
        _check_int("max_chars", max_chars, 1)
        docs: list[str] = []
        for name in corpora:
            text = load_text(name)[:max_chars]
            docs += [text[i : i + doc_chars] for i in range(0, len(text), doc_chars)]
        freq = cls.from_texts(tokenizer, docs, vocab_size=vocab_size, max_tokens=max_tokens)
        freq.metadata.update({"corpora": list(corpora), "doc_chars": doc_chars, "max_chars": max_chars})
        return freq

    # -------------------------------------------------------------------------------------------------- disk
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a ``.safetensors`` file (atomic: a temporary file renamed)."""
        from hf_tokens.analysis.token_stats_result import write_safetensors

        return write_safetensors(path, {"counts": self.counts.contiguous()}, {FORMAT: json.dumps(self.metadata)})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TokenFrequency:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(FORMAT)
            if raw is None:
                raise ValueError(f"{path} is not a TokenFrequency file (no {FORMAT!r} header)")
            return cls(fh.get_tensor("counts"), json.loads(raw))
