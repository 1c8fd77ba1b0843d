"""The shortening transforms of "Simple Hack for Transformers against Heavy Long-Text Classification" (Mutasodirin
et al., arXiv 2403.12563) as tokenizer-aware preprocessors.

A text is split into *units*: runs of word characters (``\\w+``) and single punctuation characters, each with the
whitespace before it. The removal transforms drop units and keep the rest in order, so their output's units are a
subsequence of the input's (a space is put back where a removed unit was the only separator, so two kept units
never fuse):

* ``stopwords``: drop word units whose lowercase form is an English stopword (:data:`ENGLISH_STOPWORDS`);
* ``punctuation``: drop every punctuation unit;
* ``rare``: drop word units seen fewer than ``min_count`` times in the training split (:func:`word_counts`);
* ``recurring``: drop every occurrence of a word unit after its first one (case-insensitive).

Truncation then makes the text fit ``budget`` tokens of a given tokenizer (special tokens not counted): ``head``
keeps the first tokens, ``tail`` the last, ``head+tail`` the first ``round(head_fraction * budget)`` and the last
``budget - round(head_fraction * budget)``. Cuts fall between units, never inside one, and every result is
re-tokenized and cut further until it fits, so the budget always holds (on WordPiece, whose words never span units,
a part that fits is never cut further: with one-token words each part gets exactly its share).

Deviations from the paper: its stopword list is Indonesian (the texts are Indonesian news); here it is an English
list written for this library. The paper does not say how its hacks interact with truncation beyond "first 512 /
256 / 128 tokens"; here removals always run before truncation, in the fixed order of :data:`REMOVALS`.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

REMOVALS = ("stopwords", "punctuation", "rare", "recurring")
TRUNCATIONS = ("head", "tail", "head+tail")
_UNIT = re.compile(r"(\s*)(\w+|[^\w\s])")

_STOPWORDS = """
    a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each either else ever few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just may me might more most
    must my myself neither no nor not now of off on once only or other ought our ours ourselves out over own same
    shall she should so some such than that the their theirs them themselves then there these they this those
    through to too under until up upon us very was we were what when where whether which while who whom whose why
    will with within without would yet you your yours yourself yourselves
"""
ENGLISH_STOPWORDS = frozenset(_STOPWORDS.split())


@dataclass(frozen=True)
class Unit:
    """A word run or one punctuation character, with the whitespace before it in the source text."""

    space: str
    text: str

    @property
    def is_word(self) -> bool:
        return self.text[0].isalnum() or self.text[0] == "_"

    @property
    def key(self) -> str:
        return self.text.lower()


def check_text(text: Any, name: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{name} is empty; give a document with at least one word")
    return text


def check_budget(budget: Any, name: str = "budget") -> int:
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise TypeError(f"{name} must be an int >= 1 (tokens, special tokens not counted), got {budget!r}")
    if budget < 1:
        raise ValueError(f"{name} must be >= 1 (tokens, special tokens not counted), got {budget}")
    return budget


def split_units(text: str) -> list[Unit]:
    """The units of ``text`` (whitespace is kept as each unit's prefix)."""
    return [Unit(m.group(1), m.group(2)) for m in _UNIT.finditer(text)]


def join_units(units: Sequence[Unit], kept: Sequence[bool] | None = None) -> str:
    """The text of the kept units with their own whitespace; a unit whose removed predecessor was its only
    separator gets one space, so re-splitting the result gives exactly the kept units."""
    parts: list[str] = []
    gap = False
    for i, unit in enumerate(units):
        if kept is not None and not kept[i]:
            gap = True
            continue
        space = unit.space if unit.space or not gap else " "
        parts.append((space if parts else "") + unit.text)
        gap = False
    return "".join(parts)


def word_counts(texts: Iterable[str]) -> Counter[str]:
    """How often each lowercase word unit occurs in ``texts`` (the training split): the frequencies ``rare`` uses."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(u.key for u in split_units(text) if u.is_word)
    return counts


def removal_mask(
    units: Sequence[Unit],
    removals: Sequence[str],
    *,
    counts: Counter[str] | None = None,
    min_count: int = 2,
    stopwords: frozenset[str] = ENGLISH_STOPWORDS,
) -> list[bool]:
    """Which units survive the removal transforms ``removals`` (applied in the order of :data:`REMOVALS`)."""
    check_removals(removals)
    kept = [True] * len(units)
    for name in REMOVALS:
        if name not in removals:
            continue
        if name == "rare" and counts is None:
            raise ValueError("the 'rare' transform needs the training split's counts: pass counts=word_counts(texts)")
        seen: set[str] = set()
        for i, u in enumerate(units):
            if not kept[i]:
                continue
            if name == "stopwords":
                kept[i] = not (u.is_word and u.key in stopwords)
            elif name == "punctuation":
                kept[i] = u.is_word
            elif name == "rare":
                kept[i] = not (u.is_word and counts[u.key] < min_count)  # type: ignore[index]
            elif u.is_word:  # recurring: keep the first occurrence only
                kept[i] = u.key not in seen
                seen.add(u.key)
    return kept


def check_removals(removals: Any) -> tuple[str, ...]:
    if isinstance(removals, str) or not all(isinstance(r, str) for r in removals):
        raise TypeError(f"removals must be a list of transform names from {REMOVALS}, got {removals!r}")
    unknown = [r for r in removals if r not in REMOVALS]
    if unknown:
        raise ValueError(f"unknown transform(s) {unknown}; known removals: {list(REMOVALS)}")
    return tuple(r for r in REMOVALS if r in removals)


def token_counts(tokenizer: Any, units: Sequence[Unit]) -> list[int]:
    """Tokens (no special tokens) each unit costs in context: the tokens of the joined text assigned to the unit
    their first character falls in (fast tokenizers); per unit with its whitespace otherwise."""
    text = join_units(units)
    if getattr(tokenizer, "is_fast", False):
        starts, pos = [], 0
        for i, u in enumerate(units):
            if i:
                pos += len(u.space)
            starts.append(pos)
            pos += len(u.text)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        costs = [0] * len(units)
        j = 0
        for start, _end in enc["offset_mapping"]:
            while j + 1 < len(units) and starts[j + 1] <= start:
                j += 1
            costs[j] += 1
        return costs
    return [count_tokens(tokenizer, (u.space if i else "") + u.text) for i, u in enumerate(units)]


def count_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _take(units: Sequence[Unit], costs: Sequence[int], budget: int, tokenizer: Any, from_end: bool) -> list[Unit]:
    """The longest run of whole units from the start (or the end) that fits ``budget`` tokens when re-tokenized."""
    order = range(len(units) - 1, -1, -1) if from_end else range(len(units))
    n, used = 0, 0
    for i in order:
        if used + costs[i] > budget:
            break
        used += costs[i]
        n += 1
    while n > 0:
        part = list(units[len(units) - n :]) if from_end else list(units[:n])
        if count_tokens(tokenizer, join_units(part)) <= budget:
            return part
        n -= 1
    return []


def truncate(
    units: Sequence[Unit], tokenizer: Any, budget: int, truncation: str = "head", head_fraction: float = 0.5
) -> str:
    """``units`` cut to at most ``budget`` tokens of ``tokenizer`` by ``truncation`` (see the module docstring)."""
    check_budget(budget)
    if truncation not in TRUNCATIONS:
        raise ValueError(f"unknown truncation {truncation!r}; known: {list(TRUNCATIONS)}")
    if truncation == "head+tail":
        check_fraction(head_fraction)
    text = join_units(units)
    if getattr(tokenizer, "is_fast", False):  # the costs in context add up to the text's tokens: one tokenization
        costs = token_counts(tokenizer, units)
        if sum(costs) <= budget:
            return text
    elif count_tokens(tokenizer, text) <= budget:
        return text
    else:
        costs = token_counts(tokenizer, units)
    if truncation == "head":
        return join_units(_take(units, costs, budget, tokenizer, from_end=False))
    if truncation == "tail":
        return join_units(_take(units, costs, budget, tokenizer, from_end=True))
    head_budget = round(head_fraction * budget)
    head = _take(units, costs, head_budget, tokenizer, from_end=False) if head_budget else []
    rest = units[len(head) :]
    tail = _take(rest, costs[len(head) :], budget - head_budget, tokenizer, from_end=True) if rest else []
    while head and tail and count_tokens(tokenizer, _join_cut(head, tail)) > budget:
        tail = tail[1:]  # a join across the cut re-tokenized longer (BPE): give up tail units until it fits
    return _join_cut(head, tail)


def _join_cut(head: Sequence[Unit], tail: Sequence[Unit]) -> str:
    """Head and tail joined as if the units between them were removed (so the two sides never fuse)."""
    cut = Unit(" ", "_")
    return join_units([*head, cut, *tail], [True] * len(head) + [False] + [True] * len(tail))


def check_fraction(head_fraction: Any) -> float:
    if isinstance(head_fraction, bool) or not isinstance(head_fraction, (int, float)) or math.isnan(head_fraction):
        raise TypeError(f"head_fraction must be a float in [0, 1], got {head_fraction!r}")
    if not 0 <= head_fraction <= 1:
        raise ValueError(f"head_fraction must be in [0, 1] (the head's share of the budget), got {head_fraction}")
    return float(head_fraction)


def shorten(
    text: str,
    tokenizer: Any,
    budget: int,
    *,
    removals: Sequence[str] = (),
    truncation: str = "head",
    head_fraction: float = 0.5,
    counts: Counter[str] | None = None,
    min_count: int = 2,
    stopwords: frozenset[str] = ENGLISH_STOPWORDS,
) -> str:
    """``text`` with the removal transforms applied, then truncated to ``budget`` tokens of ``tokenizer``.

    When every unit is removed (a text of stopwords only, say), the input itself is truncated instead, so the
    classifier never gets an empty string."""
    check_text(text)
    check_budget(budget)
    units = split_units(text)
    if removals:
        kept = removal_mask(units, removals, counts=counts, min_count=min_count, stopwords=stopwords)
        if any(kept):
            units = split_units(join_units(units, kept))
    return truncate(units, tokenizer, budget, truncation, head_fraction)
