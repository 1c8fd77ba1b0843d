"""The KL3M character tokenizers' consistency property: an error and its correction keep the same token boundaries.

The paper (arXiv:2503.17247, Section on character tokenizers) motivates 4k/8k/16k character BPEs for OCR correction:
because tokens are at most a few characters, an error-containing text and its corrected version are cut at the same
places outside the edit, so a model learns a local correction instead of re-reading re-segmented words.
:func:`boundary_consistency` measures exactly that for any fast tokenizer: the token boundaries (character offsets)
of ``text`` and ``corrected`` are compared outside the edited span (plus ``window`` characters either side), the
right-hand side shifted by the length change of the edit. :func:`ocr_edit_pairs` makes seeded single-edit OCR-style
error pairs (``rn``/``m``, ``l``/``1``, ``O``/``0`` confusions, dropped and doubled letters) to measure it on a corpus.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

# OCR confusions (wrong -> right is the reverse of what is applied to the clean text)
OCR_CONFUSIONS = (
    ("m", "rn"),
    ("rn", "m"),
    ("l", "1"),
    ("1", "l"),
    ("O", "0"),
    ("0", "O"),
    ("e", "c"),
    ("h", "b"),
    ("i", "l"),
    ("S", "5"),
    ("cl", "d"),
    ("a", "o"),
)


@dataclass
class BoundaryConsistency:
    """Token boundaries of ``text`` vs ``corrected`` outside the edited span (``window`` chars either side)."""

    edit_text: tuple[int, int]
    edit_corrected: tuple[int, int]
    boundaries: int
    mismatched: int

    @property
    def consistency(self) -> float:
        """Share of the boundaries outside the edit that both texts have (1.0 when there are none)."""
        return 1.0 if self.boundaries == 0 else 1.0 - self.mismatched / self.boundaries

    @property
    def consistent(self) -> bool:
        return self.mismatched == 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["edit_text"], out["edit_corrected"] = list(self.edit_text), list(self.edit_corrected)
        return {**out, "consistency": self.consistency, "consistent": self.consistent}


def edited_span(text: str, corrected: str) -> tuple[int, int, int]:
    """``(start, a, b)``: the edit replaces ``text[start:a]`` by ``corrected[start:b]`` (common prefix/suffix kept)."""
    prefix = 0
    limit = min(len(text), len(corrected))
    while prefix < limit and text[prefix] == corrected[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and text[-1 - suffix] == corrected[-1 - suffix]:
        suffix += 1
    return prefix, len(text) - suffix, len(corrected) - suffix


def _boundaries(tokenizer: Any, text: str) -> set[int]:
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    out: set[int] = set()
    for start, end in enc["offset_mapping"]:
        out.update((int(start), int(end)))
    return out


def boundary_consistency(tokenizer: Any, text: str, corrected: str, *, window: int = 0) -> BoundaryConsistency:
    """Compare the token boundaries of an error-containing ``text`` and its ``corrected`` version outside the edit.

    A boundary is a character offset where a token starts or ends. Left of the edit (offsets ``< start - window``)
    both texts share coordinates; right of it (offsets ``> end + window``) ``corrected``'s are shifted by the length
    change; the edit's own two ends are part of the edit. ``mismatched`` counts boundaries present in one text but not
    the other there. Needs a fast tokenizer (offsets mapping).
    """
    for name, value in (("text", text), ("corrected", corrected)):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not isinstance(window, int) or isinstance(window, bool) or window < 0:
        raise ValueError(f"window must be an int >= 0, got {window!r}")
    if not getattr(tokenizer, "is_fast", False):
        raise TypeError(f"tokenizer must be a fast tokenizer (offsets mapping), got {type(tokenizer).__name__}")
    start, end_text, end_corr = edited_span(text, corrected)
    shift = len(corrected) - len(text)
    lo, hi = start - window, end_text + window
    ours = {b for b in _boundaries(tokenizer, text) if b < lo or b > hi}
    theirs = set()
    for b in _boundaries(tokenizer, corrected):
        if b < lo:
            theirs.add(b)
        elif b - shift > hi:
            theirs.add(b - shift)
    union = ours | theirs
    return BoundaryConsistency((start, end_text), (start, end_corr), len(union), len(ours ^ theirs))


def ocr_edit_pairs(texts: Iterable[str], n: int, *, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` seeded ``(with_error, corrected)`` pairs, each one OCR confusion applied to a clean text of ``texts``."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    pool = [t for t in texts if isinstance(t, str) and t.strip()]
    if not pool:
        raise ValueError("texts must hold at least one non-empty string")
    rng = random.Random(seed)
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < n and attempts < 50 * n:
        attempts += 1
        clean = rng.choice(pool)
        right, wrong = rng.choice(OCR_CONFUSIONS)
        spots = [i for i in range(len(clean)) if clean.startswith(right, i)]
        if not spots:
            continue
        i = rng.choice(spots)
        pairs.append((clean[:i] + wrong + clean[i + len(right) :], clean))
    if len(pairs) < n:
        raise ValueError(f"could only make {len(pairs)} of {n} error pairs from texts (too little text)")
    return pairs
