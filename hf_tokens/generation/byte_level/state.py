"""The sampler state of the byte-level LM: the cover encodings of a byte prefix (Phan et al., arXiv 2410.09303).

A :class:`ByteState` holds the covers that end exactly at the end of the text (``exact``: they need the model's
next-token distribution) and groups of covers whose last token runs past the end (``groups``). Exact-mode covers
whose validity is not decided yet carry a :class:`Pending` source and are decided by :func:`decide` when a decision
needs them. :func:`reanchor` commits the token prefix every cover shares, so that covers stay short.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from hf_tokens.generation.byte_level.canonical import CanonicalityChecker
from hf_tokens.generation.byte_level.vocab import ByteVocab, utf8_status

END = 256  # index of end-of-text in a next-byte distribution


@dataclass
class Pending:
    """Where the validity of some covers is decided when it is needed: the validity memo of the cover they extend
    and the arguments of :meth:`CanonicalityChecker.check` (re-encoded ids, pre-token flag, last character)."""

    memo: np.ndarray
    ids: tuple[int, ...]
    is_pretoken: bool
    last_char: str


@dataclass
class Group:
    """Covers ``prefix + (t,)`` for each ``t`` in ``tokens``, of which ``consumed`` bytes are matched so far.

    In exact mode a candidate whose validity is not known yet is kept with ``pending[i]`` set; its status is
    ``source.memo[t]`` (1 valid, 0 not, -1 unknown), decided only when a decision needs it (lazy exactness)."""

    prefix: tuple[int, ...]
    tokens: np.ndarray
    logp: np.ndarray
    consumed: int
    pending: np.ndarray | None = None
    source: Pending | None = None


@dataclass
class ByteState:
    """Cover encodings of a byte prefix. ``anchor`` holds the committed tokens (start tokens included); cover ids
    are relative to it and their log-probabilities are conditional on it (up to one shared constant)."""

    stream: bytes
    anchor: tuple[int, ...]
    anchor_bytes: int
    exact: list[tuple[tuple[int, ...], float]] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    @property
    def num_covers(self) -> int:
        return len(self.exact) + sum(len(g.tokens) for g in self.groups)


def logsumexp(values: np.ndarray) -> float:
    if values.size == 0:
        return float("-inf")
    top = float(values.max())
    if top == float("-inf"):
        return top
    return top + float(np.log(np.exp(values - top).sum()))


def decide(checker: CanonicalityChecker, source: Pending, tokens: np.ndarray) -> None:
    """Decide (into ``source.memo``) the validity of the pending ``tokens`` that are still unknown."""
    unknown = tokens[source.memo[tokens] < 0]
    if unknown.size:
        checker.check(source.memo, source.ids, unknown, source.last_char, source.is_pretoken)


def reanchor(vocab: ByteVocab, state: ByteState, anchor_pretokens: int) -> ByteState:
    """Move the anchor forward to the stable boundary of the current text when every cover shares it."""
    stream = state.stream
    if utf8_status(stream) != "ok" or len(stream) - state.anchor_bytes < 16:
        return state
    try:
        ids = vocab.encode(stream)
    except ValueError:
        return state
    k = vocab.anchor(stream, ids, anchor_pretokens)
    new_bytes = len(vocab.decode(ids[:k]))
    if new_bytes <= state.anchor_bytes:
        return state
    # tokens of the canonical encoding between the old and the new anchor
    pos, j = 0, 0
    while j < k and pos < state.anchor_bytes:
        pos += len(vocab.token_bytes[ids[j]] or b"")
        j += 1
    if pos != state.anchor_bytes:
        return state
    shared = tuple(ids[j:k])
    n = len(shared)
    if any(ids_[:n] != shared or len(ids_) == n for ids_, _ in state.exact):
        return state
    if any(len(g.prefix) < n or g.prefix[:n] != shared for g in state.groups):
        return state
    shift = max([lp for _, lp in state.exact] + [float(g.logp.max()) for g in state.groups], default=0.0)
    return ByteState(
        stream=stream,
        anchor=state.anchor + shared,
        anchor_bytes=new_bytes,
        exact=[(ids_[n:], lp - shift) for ids_, lp in state.exact],
        groups=[replace(g, prefix=g.prefix[n:], logp=g.logp - shift) for g in state.groups],
    )
