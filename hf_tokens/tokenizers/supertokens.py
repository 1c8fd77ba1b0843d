"""Supertokens (TokenAdapt paper, Sharthak et al., 2025, arXiv:2505.09738): BPE tokens that span several words.

Ordinary byte-level BPE pre-tokenizes on whitespace and punctuation, so no token can cross a word boundary. The
paper's supertoken learning replaces that with *probabilistic* pre-tokenization of the training corpus: each text is
cut into character chunks whose lengths are drawn from a distribution (by default the authors' near-Gaussian
distribution over 4-23 characters), regardless of word boundaries. A chunk boundary falls inside a word or between
words by chance, so merges may cross word boundaries with a probability set by the chunk-length distribution
(:func:`boundary_crossing_rate` measures it). BPE then learns frequent multi-word strings (``" of the"``,
``"ed to the"``). At inference nothing is pre-split (the chunk separator never occurs in real text) and the learnt
merges apply to the whole text.

Built on :func:`hf_tokens.tokenizers.train.train_bpe`: byte-level alphabet, NFC, tokens capped at 30 bytes as in the
authors' ``SuperTokenizer`` training script. Deviation: the chunk separator is a private-use character (U+E000,
removed from training text first) instead of the authors' ``"#$TinyCompany@&"`` marker string.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hf_tokens.tokenizers.train import BPETrainingConfig, train_bpe

# "min-max" chunk length in characters -> weight: the authors' default distribution (train.yaml; its weights sum to
# 1.1, so they are used as relative weights)
PAPER_CHUNK_LENGTHS: dict[str, float] = {
    "4-5": 0.044,
    "6-7": 0.091,
    "8-9": 0.146,
    "10-11": 0.171,
    "12-13": 0.185,
    "14-15": 0.171,
    "16-17": 0.146,
    "18-19": 0.091,
    "20-21": 0.044,
    "22-23": 0.011,
}
SEPARATOR = "\ue000"


@dataclass
class SupertokenConfig:
    """Supertoken BPE training (TokenAdapt paper): chunk-length distribution plus the BPE settings."""

    vocab_size: int = field(default=32768, metadata={"help": "final vocabulary size, special tokens included"})
    chunk_lengths: dict[str, float] = field(
        default_factory=lambda: dict(PAPER_CHUNK_LENGTHS),
        metadata={"help": "'min-max' chunk length in characters -> weight (normalised); paper: 4-23, peak 12-13"},
    )
    max_token_length: int = field(default=30, metadata={"help": "longest token in bytes (authors' script: 30)"})
    min_frequency: int = field(default=2, metadata={"help": "a merge must occur at least this often"})
    special_tokens: tuple[str, ...] = field(
        default=("<|endoftext|>",), metadata={"help": "special tokens placed first in the vocabulary"}
    )
    eos_token: str | None = field(default="<|endoftext|>", metadata={"help": "eos token (one of special_tokens)"})
    seed: int = field(default=0, metadata={"help": "seed of the chunk-length sampling"})

    def __post_init__(self) -> None:
        if not isinstance(self.chunk_lengths, dict) or not self.chunk_lengths:
            raise ValueError("chunk_lengths must be a non-empty dict {'min-max': probability}")
        total = 0.0
        for key, p in self.chunk_lengths.items():
            low, high = parse_range(key)
            if not 1 <= low <= high:
                raise ValueError(f"chunk length range {key!r} must satisfy 1 <= min <= max")
            if not isinstance(p, (int, float)) or p < 0:
                raise ValueError(f"chunk length probability for {key} must be >= 0, got {p!r}")
            total += float(p)
        if total <= 0:
            raise ValueError("chunk_lengths weights must not all be zero")
        self.special_tokens = tuple(self.special_tokens)
        # the BPE-side checks (vocab_size, max_token_length, min_frequency, eos) live in BPETrainingConfig
        self.bpe_config()

    def bpe_config(self) -> BPETrainingConfig:
        return BPETrainingConfig(
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            max_token_length=self.max_token_length,
            normalization="nfc",
            special_tokens=self.special_tokens,
            bos_token=None,
            eos_token=self.eos_token,
            pad_token=None,
            unk_token=None,
        )


def parse_range(key: str) -> tuple[int, int]:
    """``"4-5"`` -> ``(4, 5)``; ``"7"`` -> ``(7, 7)``."""
    try:
        parts = [int(v) for v in str(key).split("-")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2):
        raise ValueError(f"chunk_lengths keys must look like 'min-max' (e.g. '4-5'), got {key!r}")
    return parts[0], parts[-1]


def sample_chunks(text: str, chunk_lengths: dict[str, float], rng: random.Random) -> list[str]:
    """Cut ``text`` into consecutive chunks with lengths drawn from ``chunk_lengths`` (range, then uniform in it)."""
    ranges: Sequence[tuple[int, int]] = [parse_range(k) for k in chunk_lengths]
    weights = [float(v) for v in chunk_lengths.values()]
    chunks = []
    pos = 0
    while pos < len(text):
        low, high = rng.choices(ranges, weights=weights, k=1)[0]
        size = rng.randint(low, high)
        chunks.append(text[pos : pos + size])
        pos += size
    return chunks


def boundary_crossing_rate(texts: Iterable[str], config: SupertokenConfig | None = None) -> float:
    """Fraction of sampled chunks that contain a word boundary (whitespace after a non-space character)."""
    config = config or SupertokenConfig()
    rng = random.Random(config.seed)
    crossing = total = 0
    for text in texts:
        for chunk in sample_chunks(text, config.chunk_lengths, rng):
            stripped = chunk.strip()
            total += 1
            crossing += any(ch.isspace() for ch in stripped)
    return crossing / total if total else 0.0


def train_supertokens(texts: Iterable[str], config: SupertokenConfig | None = None) -> Any:
    """Train a supertoken BPE tokenizer on ``texts``; returns a ``PreTrainedTokenizerFast``."""
    from tokenizers import Regex, pre_tokenizers

    config = config or SupertokenConfig()
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string (wrap it in a list)")

    def chunked(corpus: Iterable[str]) -> Iterator[str]:
        rng = random.Random(config.seed)
        for text in corpus:
            text = text.replace(SEPARATOR, "")
            if text:
                yield SEPARATOR.join(sample_chunks(text, config.chunk_lengths, rng))

    pre = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SEPARATOR), behavior="removed"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    return train_bpe(texts, config.bpe_config(), pre_tokenizer=pre, corpus_transform=chunked)


def chars_per_token(tokenizer: Any, texts: Iterable[str]) -> float:
    """Compression: characters of ``texts`` per token (no special tokens added)."""
    chars = tokens = 0
    for text in texts:
        chars += len(text)
        tokens += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    if tokens == 0:
        raise ValueError("texts produced no tokens")
    return chars / tokens
