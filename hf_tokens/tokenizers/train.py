"""Train byte-level BPE tokenizers with the `tokenizers` library: the base every tokenizer recipe here builds on.

:func:`train_bpe` follows the KL3M recipe (Bommarito et al., 2025, arXiv:2503.17247;
``alea-institute/kl3m-tokenizers``): a byte-level BPE over the full 256-byte alphabet, Unicode normalisation (NFC here,
NFKC for KL3M's character tokenizers), optional lowercasing, a fixed list of special tokens first in the vocabulary,
an optional cap on the token length and optional padding of the vocabulary to a power of two with whitespace-run
tokens. :func:`train_char_bpe` is KL3M's character-level variant (tokens of at most ``max_chars`` bytes, 4k/8k/16k
vocabularies) for OCR/spelling correction. Both return a ``PreTrainedTokenizerFast`` that saves with
``save_pretrained``. The KL3M paper's data and custom domain tokens are not reproduced; only the recipe is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

NORMALIZATIONS = ("nfc", "nfkc", "nfd", "nfkd", None)
# KL3M-004's special tokens (start/end/pad/unk first, then the encoder and chat tokens)
KL3M_SPECIAL_TOKENS = (
    "<|start|>",
    "<|end|>",
    "<|pad|>",
    "<|unk|>",
    "<|sep|>",
    "<|cls|>",
    "<|mask|>",
    "<|system|>",
    "</|system|>",
    "<|user|>",
    "</|user|>",
    "<|instruction|>",
    "</|instruction|>",
)


@dataclass
class BPETrainingConfig:
    """How to train a byte-level BPE tokenizer (KL3M recipe defaults)."""

    vocab_size: int = field(default=32768, metadata={"help": "final vocabulary size, special tokens included"})
    min_frequency: int = field(default=2, metadata={"help": "a merge must occur at least this often"})
    max_token_length: int | None = field(
        default=None, metadata={"help": "longest token in bytes (KL3M character tokenizers: 3); None = no cap"}
    )
    normalization: str | None = field(
        default="nfc", metadata={"help": f"Unicode normalisation, one of {NORMALIZATIONS}"}
    )
    lowercase: bool = field(default=False, metadata={"help": "lowercase the text (KL3M 'uncased' variants)"})
    special_tokens: tuple[str, ...] = field(
        default=KL3M_SPECIAL_TOKENS, metadata={"help": "special tokens placed first in the vocabulary"}
    )
    bos_token: str | None = field(default="<|start|>", metadata={"help": "bos token (must be a special token)"})
    eos_token: str | None = field(default="<|end|>", metadata={"help": "eos token (must be a special token)"})
    pad_token: str | None = field(default="<|pad|>", metadata={"help": "pad token (must be a special token)"})
    unk_token: str | None = field(default="<|unk|>", metadata={"help": "unk token (must be a special token)"})
    pad_to_power_of_two: bool = field(
        default=False, metadata={"help": "add whitespace-run tokens up to the next power of two (KL3M pad2)"}
    )
    show_progress: bool = field(default=False, metadata={"help": "show the tokenizers training progress bar"})

    def __post_init__(self) -> None:
        self.special_tokens = tuple(self.special_tokens)
        if not isinstance(self.vocab_size, int) or self.vocab_size < 256 + len(self.special_tokens) + 1:
            raise ValueError(
                f"vocab_size must be an int > 256 + {len(self.special_tokens)} special tokens, got {self.vocab_size!r}"
            )
        if not isinstance(self.min_frequency, int) or self.min_frequency < 1:
            raise ValueError(f"min_frequency must be an int >= 1, got {self.min_frequency!r}")
        if self.max_token_length is not None and (
            not isinstance(self.max_token_length, int) or self.max_token_length < 2
        ):
            raise ValueError(f"max_token_length must be None or an int >= 2, got {self.max_token_length!r}")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {self.normalization!r}")
        if len(set(self.special_tokens)) != len(self.special_tokens):
            raise ValueError("special_tokens must not repeat")
        for role in ("bos_token", "eos_token", "pad_token", "unk_token"):
            value = getattr(self, role)
            if value is not None and value not in self.special_tokens:
                raise ValueError(f"{role}={value!r} must be one of special_tokens")


def _normalizer(config: BPETrainingConfig) -> Any:
    from tokenizers import normalizers

    steps = []
    if config.normalization:
        steps.append(getattr(normalizers, config.normalization.upper())())
    if config.lowercase:
        steps.append(normalizers.Lowercase())
    return normalizers.Sequence(steps) if steps else None


def _whitespace_runs(vocab: dict[str, int], needed: int) -> list[str]:
    """KL3M's power-of-two padding: runs of spaces and newlines not in the vocabulary yet."""
    from hf_tokens.tokenizers.vocab import byte_level_alphabet

    to_char = {b: c for c, b in byte_level_alphabet().items()}
    out: list[str] = []
    length = 2
    while len(out) < needed:
        for ch in (" ", "\n"):
            token = ch * length
            if "".join(to_char[b] for b in token.encode()) not in vocab and len(out) < needed:
                out.append(token)
        length += 1
    return out


def train_bpe(
    texts: Iterable[str],
    config: BPETrainingConfig | None = None,
    *,
    pre_tokenizer: Any = None,
    corpus_transform: Callable[[Iterable[str]], Iterator[str]] | None = None,
) -> Any:
    """Train a byte-level BPE on ``texts``; returns a ``PreTrainedTokenizerFast``.

    ``pre_tokenizer`` replaces the default GPT-2-style ``ByteLevel`` pre-tokenizer (it must end in a
    ``ByteLevel(use_regex=...)`` step so the alphabet stays bytes); ``corpus_transform`` rewrites the training texts
    (e.g. the supertoken chunking) and is not applied at inference.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    config = config or BPETrainingConfig()
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string (wrap it in a list)")
    tok = Tokenizer(models.BPE())
    normalizer = _normalizer(config)
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer or pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(config.special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        # the trainer keeps merges strictly shorter than its max_token_length (KL3M's scripts pass max_chars + 1)
        max_token_length=None if config.max_token_length is None else config.max_token_length + 1,
        show_progress=config.show_progress,
    )
    corpus = corpus_transform(texts) if corpus_transform else iter(texts)
    tok.train_from_iterator(corpus, trainer=trainer)
    if config.pad_to_power_of_two:
        size = tok.get_vocab_size()
        target = 2 ** math.ceil(math.log2(size))
        if target > size:
            tok.add_tokens(_whitespace_runs(tok.get_vocab(), target - size))
    roles = {r: getattr(config, r) for r in ("bos_token", "eos_token", "pad_token", "unk_token") if getattr(config, r)}
    return PreTrainedTokenizerFast(tokenizer_object=tok, **roles)


def train_char_bpe(texts: Iterable[str], vocab_size: int = 4096, *, max_chars: int = 3, **overrides: Any) -> Any:
    """KL3M's character-level BPE: tokens of at most ``max_chars`` bytes, NFKC, vocabularies of 4k/8k/16k."""
    if not isinstance(max_chars, int) or max_chars < 2:
        raise ValueError(f"max_chars must be an int >= 2, got {max_chars!r}")
    config = BPETrainingConfig(
        vocab_size=vocab_size,
        max_token_length=max_chars,
        normalization=overrides.pop("normalization", "nfkc"),
        min_frequency=overrides.pop("min_frequency", 1),
        **overrides,
    )
    return train_bpe(texts, config)
