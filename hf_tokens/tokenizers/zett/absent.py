"""Absent-token distractors for ZeTT training: extra rows in the training softmax for tokens the batch never uses.

A real target vocabulary is mostly tokens a given text never contains (Qwen3: ~112k predicted rows, a few hundred of
them in our held-out English/code text), and every predicted output row takes probability mass. The paper's sampled
32k-token vocabularies put many such tokens in its training softmax; ours (4k-32k tokens fitted to a few hundred
texts, most of them shared with the base vocabulary and copied) hold only 3k-9k predicted tokens, so the LM loss
seldom pays for the mass predicted rows of unused tokens take (bench_results/zett_row_swap.json).

:class:`AbsentTokenSampler` draws, per step, tokens that are not in the step's sampled vocabulary and not single
tokens of the base vocabulary: real tokens of earlier steps' sampled tokenizers and, for a ``foreign`` share,
synthetic strings of other scripts (CJK, kana, Hangul, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai, accented
Latin). No target tokenizer's vocabulary is used, so transfer to it stays zero-shot.

Measured (``ZettTrainingConfig.absent_tokens``, 150 continued steps on SmolLM2; bench_results/
zett_train_absent_pool.json, tokenizer_transfer_zett_absent_pool.json): distractors from earlier tokenizers take the
zero-shot ppl/char ratio to Qwen3 from 1.246 (the same run without them) to 1.211 (TokenAdapt 1.214), Mistral from
1.261 to 1.250 (TokenAdapt 1.248), GPT-2 from 1.135 to 1.122 (TokenAdapt 1.143); making half of them synthetic
other-script strings gave no further gain, so ``foreign`` defaults to 0. Deviation: the paper gets such tokens from its
large sampled vocabularies; here they are added to smaller ones.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from hf_tokens.tokenizers.vocab import backend_of, surface_forms

# (first code point, last code point, shortest, longest string in characters, may start with a space)
SCRIPTS: tuple[tuple[int, int, int, int, bool], ...] = (
    (0x4E00, 0x9FFF, 1, 3, False),  # CJK unified ideographs
    (0x3041, 0x30FA, 1, 4, False),  # hiragana and katakana
    (0xAC00, 0xD7A3, 1, 3, True),  # Hangul syllables
    (0x0430, 0x044F, 2, 8, True),  # Cyrillic lower case
    (0x03B1, 0x03C9, 2, 8, True),  # Greek lower case
    (0x0621, 0x064A, 2, 6, True),  # Arabic letters
    (0x05D0, 0x05EA, 2, 6, True),  # Hebrew letters
    (0x0905, 0x0939, 1, 4, True),  # Devanagari letters
    (0x0E01, 0x0E2E, 1, 4, False),  # Thai consonants
)
ACCENTED = "àáâäãåæçèéêëìíîïñòóôöõøùúûüýÿßœ"


class AbsentTokenSampler:
    """Distractor tokens (their texts and base-tokenizer decompositions) for one training step at a time."""

    def __init__(self, base_tokenizer: Any, *, foreign: float = 0.0, pool_size: int = 100_000, seed: int = 0) -> None:
        if not isinstance(foreign, (int, float)) or not 0 <= foreign <= 1:
            raise ValueError(f"foreign must be a fraction in [0, 1], got {foreign!r}")
        if not isinstance(pool_size, int) or pool_size < 1:
            raise ValueError(f"pool_size must be an int >= 1, got {pool_size!r}")
        self.backend = backend_of(base_tokenizer, argument="base_tokenizer")
        base = surface_forms(base_tokenizer, argument="base_tokenizer")
        self.base_bytes = set(base.lookup())
        self.special = set(base.special)
        self.foreign = float(foreign)
        self.pool: deque[str] = deque(maxlen=pool_size)
        self.rng = random.Random(seed)

    def remember(self, tokenizer: Any) -> None:
        """Add the tokens of ``tokenizer`` (a step's sampled one) that the base vocabulary lacks to the pool."""
        vocab = surface_forms(tokenizer, argument="tokenizer")
        for i, surface in enumerate(vocab.surfaces):
            text = vocab.text(i)
            if surface and i not in vocab.special and surface not in self.base_bytes and "\ufffd" not in text:
                self.pool.append(text)

    def foreign_string(self) -> str:
        """One synthetic token text of another script (or an English-looking word with an accented letter)."""
        rng = self.rng
        if rng.random() < 1 / (len(SCRIPTS) + 1):
            word = [chr(rng.randrange(0x61, 0x7B)) for _ in range(rng.randint(2, 7))]
            word[rng.randrange(len(word))] = rng.choice(ACCENTED)
            return (" " if rng.random() < 0.5 else "") + "".join(word)
        lo, hi, shortest, longest, spaced = rng.choice(SCRIPTS)
        text = "".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(shortest, longest)))
        return (" " if spaced and rng.random() < 0.5 else "") + text

    def draw(self, n: int, tokenizer: Any) -> list[list[int]]:
        """Base-piece decompositions of ``n`` distinct tokens absent from ``tokenizer`` and from the base vocabulary.

        The in-pool share is drawn from tokens remembered so far (all foreign while the pool is still empty).
        """
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        vocab = surface_forms(tokenizer, argument="tokenizer")
        taken = {s for s in vocab.surfaces if s} | self.base_bytes
        n_pool = min(round(n * (1 - self.foreign)), len(self.pool))
        texts: list[str] = []
        if n_pool:
            for text in self.rng.sample(list(self.pool), min(len(self.pool), 2 * n_pool)):
                if len(texts) == n_pool:
                    break
                if text.encode() not in taken:
                    taken.add(text.encode())
                    texts.append(text)
        for _ in range(20 * n):
            if len(texts) >= n:
                break
            text = self.foreign_string()
            if text.encode() not in taken:
                taken.add(text.encode())
                texts.append(text)
        out = []
        for enc in self.backend.encode_batch(texts, add_special_tokens=False):
            ids = [i for i in enc.ids if i not in self.special]
            if ids:
                out.append(ids)
        return out
