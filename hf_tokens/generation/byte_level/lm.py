"""A token LM as an exact byte-level LM: the Byte-Token Representation Lemma of Phan et al. (arXiv 2410.09303).

The probability that the text produced by a token LM starts with the bytes ``x`` is the sum, over the *cover
encodings* of ``x``, of their token-level probabilities. A cover encoding is a valid token sequence whose bytes
before its last token are a prefix of ``x`` and whose last token reaches to (or past) the end of ``x``. Then

    P(next byte = b | x) = P(x b) / P(x),      P(end | x) = P(encode(x), eos) / P(x)

and every term is a sum over covers. Covers are kept per step and updated byte by byte (the paper's sampler
state): a cover whose last token runs past the end either matches the next byte (it stays) or not (it is dropped);
a cover that ends exactly at the end of the text is extended by every valid token starting with the next byte. The
model is called only on covers that end exactly at the end (usually one new sequence per byte), in tree forwards
over a shared KV cache by :class:`PrefixScorer`, which also scores the covers of the next few bytes when the text
continues like its most probable cover (``speculate``; a guess changes the cost, never the result); token candidates
come from :class:`ByteVocab`'s prefix index.

Validity. A token model trained on canonical tokenizations puts (almost) no mass on non-canonical sequences, and
the lemma sums over valid ones only. Here a sequence ``c + [t]`` is valid when the tokenizer itself re-encodes its
bytes to exactly ``c + [t]``, re-encoding only from a stable anchor (see :meth:`ByteVocab.anchor`), so the regex
pre-tokenization of byte-level BPE (GPT-2, Llama-3, Qwen, SmolLM2) and the word splitting of SentencePiece are
respected exactly. This is checked for *every* candidate by default (``validity_tail=0``).

What is exact and what is not (all deviations from the paper are listed here):

* Exact for text whose bytes are valid UTF-8 and which the tokenizer encodes losslessly (no normalizer changes).
* A candidate whose bytes end inside a multi-byte UTF-8 character cannot be re-encoded by a text tokenizer; it
  is accepted when the bytes before it are consistent (this is the only case the validity check cannot decide).
  Candidates whose bytes are invalid UTF-8 before their end are rejected (no tokenization of text produces them).
* When a prompt is first read, its covers are built by advancing from the anchor byte by byte, so prompts that
  end inside a character are handled; the paper's code instead skips split points inside a character.
* Special tokens other than end-of-text get no byte; their probability is dropped by the normalisation.
* ``validity_tail > 0`` (off by default) trusts the model for the least likely candidates (the paper's
  ``fast_mode`` is ``validity_tail`` -> 1).
* A model without a BOS token is conditioned on ``start_token_id`` (default: its eos, the GPT-2 convention).
* Stable boundaries: the anchor (start of the second-to-last pre-token, or word for SentencePiece) and, for the
  per-pre-token validity cache, the start of the last pre-token are assumed not to move when text is appended.
  This holds for the GPT-2 / Llama-3 / Qwen / SmolLM2 regexes; tests compare the accelerated check with the
  plain one (re-encoding every candidate from the anchor) over whole vocabularies of those tokenizers, and the
  byte-level probabilities with brute-force marginals on a tiny tokenizer.
* SentencePiece tokenizers without whitespace splitting (Gemma) use word starts as anchors; a piece that spans a
  space would make that boundary unstable (not verified for Gemma; its ensemble benchmark uses trust mode).

Cost. A full next-byte distribution in exact mode re-encodes, once per distinct last pre-token, every vocabulary
token that could merge with it (fresh pre-tokens are decided from a per-token table), so it is dominated by
tokenizer calls; the checker (:mod:`.canonical`) depends on the tokenizer only and is shared by every wrapper on the
same tokenizer. Greedy decoding needs only the argmax: :func:`hf_tokens.generation.byte_level.decoding.greedy_byte`
bounds each byte's mass and checks candidates in order of probability until the winner is certain, and covers that
run past the end keep an undecided validity (``pending``) until a decision, a full distribution or their end needs
it (exact: the same argmax as the full check, up to floating-point ties). Throughput of exact and trust mode against
token greedy: ``PYTHONPATH=. python benchmarks/byte_level.py --sections throughput`` (rows ``bytes_per_second`` of
``bench_results/byte_level_throughput.json``).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from hf_tokens.generation.byte_level.canonical import CanonicalityChecker, last_char
from hf_tokens.generation.byte_level.config import ByteLevelConfig
from hf_tokens.generation.byte_level.matching import check_tokenizer_matches
from hf_tokens.generation.byte_level.scorer import PrefixScorer
from hf_tokens.generation.byte_level.state import END, ByteState, Group, Pending, decide, logsumexp, reanchor
from hf_tokens.generation.byte_level.vocab import utf8_status

__all__ = ["END", "ByteLevelLM", "ByteState"]


class ByteLevelLM:
    """Wrap a causal LM and its tokenizer into an exact byte-level LM (Phan et al., arXiv 2410.09303).

    ``next_byte_distribution(prefix)`` returns 257 probabilities (256 bytes, then end-of-text), ``log_prob(text)``
    the log-probability of a string computed byte by byte. For decoding, ``start`` / ``distribution`` /
    ``advance`` work on a :class:`ByteState` so that nothing is recomputed between bytes.
    """

    def __init__(self, model: Any, tokenizer: Any, config: ByteLevelConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ValueError(f"pass either config= or keyword settings, not both (got {sorted(kwargs)})")
        config = config or ByteLevelConfig(**kwargs)
        if not isinstance(config, ByteLevelConfig):
            raise TypeError(f"config must be a ByteLevelConfig, got {type(config).__name__}")
        if not callable(model) or not hasattr(model, "config"):
            raise TypeError(f"model must be a transformers causal LM, got {type(model).__name__}")
        switches = {"use_shortcut": config.use_shortcut, "use_pretoken_cache": config.use_pretoken_cache}
        if config.shared_checker:
            self.checker = CanonicalityChecker.shared(tokenizer, **switches)
        else:
            self.checker = CanonicalityChecker(tokenizer, **switches)
        self.vocab = self.checker.vocab
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        start = config.start_token_id
        if start is None:
            start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if start is None:
            raise ValueError("the tokenizer has neither bos nor eos token; pass start_token_id=")
        self.start_ids: tuple[int, ...] = (int(start),)
        if config.check_tokenizer:
            check_tokenizer_matches(model, self.vocab, self.start_ids)
        self.scorer = PrefixScorer(model, batch_size=config.batch_size)
        # trust mode marks unchecked candidates valid from the model's probabilities: a private, model-dependent memo
        self._trust_memo: dict[tuple[int, ...], np.ndarray] = {}

    @property
    def validity_checks(self) -> int:
        """Candidates decided by re-encoding so far (by the checker, which may be shared with other wrappers)."""
        return self.checker.validity_checks

    # ------------------------------------------------------------------------------------------------ public API
    def start(self, prefix: bytes | str = b"", *, start_ids: tuple[int, ...] | None = None) -> ByteState:
        """The cover encodings of ``prefix`` (user text bytes; a SentencePiece dummy space is added here)."""
        data = _as_bytes(prefix, "prefix")
        if utf8_status(data) == "invalid":
            raise ValueError(
                f"prefix must be UTF-8 text (an incomplete last character is allowed), got {data[-20:]!r}"
            )
        return self.start_stream(self.vocab.stream_of(data), start_ids=start_ids)

    def start_stream(self, stream: bytes, *, start_ids: tuple[int, ...] | None = None) -> ByteState:
        """Like :meth:`start` for stream bytes (what the tokens decode to, dummy prefix included)."""
        starts = self.start_ids if start_ids is None else tuple(int(i) for i in start_ids)
        complete = stream
        status = utf8_status(stream)
        if status == "invalid":
            raise ValueError(f"the text must be UTF-8 (an incomplete last character is allowed), got {stream[-20:]!r}")
        if status == "partial":
            cut = len(stream)
            while utf8_status(stream[:cut]) != "ok":
                cut -= 1
            complete = stream[:cut]
        has_text = len(complete) > len(self.vocab.dummy_prefix)  # a lone dummy space is not text yet
        ids = self.vocab.encode(complete) if has_text else []
        k = self.vocab.anchor(complete, ids, self.config.anchor_pretokens) if has_text else 0
        anchor = starts + tuple(ids[:k])
        if not anchor:
            raise ValueError("the byte-level LM needs at least one start token (bos) to condition on")
        a = len(self.vocab.decode(ids[:k]))
        state = ByteState(stream=stream[:a], anchor=anchor, anchor_bytes=a, exact=[((), 0.0)])
        self._prefetch(stream, a, anchor)
        for b in stream[a:]:
            state = self._advance(state, b, move_anchor=False)
        return reanchor(self.vocab, state, self.config.anchor_pretokens)

    def distribution(self, state: ByteState) -> torch.Tensor:
        """P(next byte | state) as a float64 tensor of 257 entries (bytes 0..255, then end-of-text)."""
        logm = self._log_masses(state)
        total = logsumexp(logm)
        if total == float("-inf"):
            raise ValueError(f"the text {state.stream[-40:]!r} has probability 0 under the model and tokenizer")
        return torch.from_numpy(np.exp(logm - total))

    def advance(self, state: ByteState, byte: int) -> ByteState:
        """The state after appending ``byte`` (0..255)."""
        if not isinstance(byte, (int, np.integer)) or not 0 <= int(byte) < 256:
            raise ValueError(f"byte must be an int in 0..255, got {byte!r}")
        return self._advance(state, int(byte), move_anchor=True)

    def next_byte_distribution(self, prefix_bytes: bytes | str = b"") -> torch.Tensor:
        """Exact P(next byte | prefix): 257 probabilities summing to 1 (index 256 is end-of-text)."""
        return self.distribution(self.start(prefix_bytes))

    def log_prob(self, text: bytes | str, *, context: bytes | str = b"", end: bool = False) -> float:
        """log P(text | context) under the byte-level LM, byte by byte (natural log); ``end=True`` adds log P(end)."""
        data = _as_bytes(text, "text")
        state = self.start(context)
        total = 0.0
        for b in data:
            p = float(self.distribution(state)[b])
            if p <= 0.0:
                return float("-inf")
            total += float(np.log(p))
            state = self.advance(state, b)
        if end:
            total += float(np.log(float(self.distribution(state)[END])))
        return total

    # --------------------------------------------------------------------------------------------- the algorithm
    def _prefetch(self, stream: bytes, a: int, anchor: tuple[int, ...]) -> None:
        """Score in one batch the canonical encodings of every character boundary between the anchor and the end."""
        pieces = [stream[a:i] for i in range(a + 1, len(stream) + 1) if utf8_status(stream[a:i]) == "ok"]
        if self.vocab.dummy_prefix:
            pieces = [p for p in pieces if p.startswith(self.vocab.dummy_prefix)]
        seqs = [anchor]
        if pieces:
            # a piece the tokenizer cannot reproduce raises: the byte-by-byte advance will find out
            with contextlib.suppress(ValueError):
                seqs += [anchor + tuple(ids) for ids in self.vocab.encode_many(pieces)]
        self.scorer.logprobs(seqs)

    def _split(
        self,
        prefix: tuple[int, ...],
        tokens: np.ndarray,
        logp: np.ndarray,
        consumed: int,
        out: ByteState,
        pending: np.ndarray | None = None,
        source: Pending | None = None,
    ) -> None:
        done = self.vocab.lengths[tokens] == consumed
        if pending is not None and source is not None and (done & pending).any():
            # a cover that ends here becomes exact (it will be scored and extended): decide its validity now
            decide(self.checker, source, tokens[done & pending])
            keep = ~(done & pending) | (source.memo[tokens] == 1)
            tokens, logp, done, pending = tokens[keep], logp[keep], done[keep], pending[keep]
        if done.any() and self.config.validity_tail > 0:
            # trusted candidates were not checked: a cover that ends exactly here must still be canonical
            # (one re-encoding per such cover), else non-canonical paths would multiply step after step
            done_ids = tokens[done]
            ok = np.array([self.checker.is_canonical((*prefix, t)) for t in done_ids.tolist()])
            drop = np.zeros_like(done)
            drop[np.flatnonzero(done)[~ok]] = True
            tokens, logp, done = tokens[~drop], logp[~drop], done[~drop]
        for t, lp in zip(tokens[done].tolist(), logp[done].tolist()):
            out.exact.append(((*prefix, t), lp))
        if (~done).any():
            rest = pending[~done] if pending is not None else None
            if rest is not None and not rest.any():
                rest = None
            out.groups.append(
                Group(prefix, tokens[~done], logp[~done], consumed, rest, source if rest is not None else None)
            )

    def _advance(self, state: ByteState, byte: int, *, move_anchor: bool) -> ByteState:
        new = ByteState(stream=state.stream + bytes([byte]), anchor=state.anchor, anchor_bytes=state.anchor_bytes)
        for g in state.groups:
            keep = self.vocab.byte_matrix[g.tokens, g.consumed] == byte
            if g.pending is not None and g.source is not None:
                keep &= ~g.pending | (g.source.memo[g.tokens] != 0)  # drop members already found invalid
            if keep.any():
                pending = g.pending[keep] if g.pending is not None else None
                self._split(g.prefix, g.tokens[keep], g.logp[keep], g.consumed + 1, new, pending, g.source)
        if state.exact:
            lps = self.cover_logprobs(state)
            cands = self.vocab.with_prefix(bytes([byte]))
            for (ids, lp0), lp in zip(state.exact, lps):
                pending, source = None, None
                if self.config.validity_tail > 0:
                    ok = self._valid(state, ids, cands, lp)
                else:  # exact mode: keep undecided candidates, decide them when needed
                    memo, check_ids, is_pretoken = self.cover_memo(state, ids)
                    status = memo[cands]
                    ok = status != 0
                    pending = status[ok] < 0
                    source = Pending(memo, check_ids, is_pretoken, last_char(state.stream))
                toks = cands[ok]
                if toks.size:
                    logp = lp0 + lp[torch.from_numpy(toks)].double().numpy()
                    self._split(ids, toks, logp, 1, new, pending, source)
        return reanchor(self.vocab, new, self.config.anchor_pretokens) if move_anchor else new

    def resolve(self, state: ByteState) -> ByteState:
        """Decide every pending cover of ``state`` and drop the invalid ones (in place); returns ``state``."""
        groups = []
        for g in state.groups:
            if g.pending is not None and g.source is not None:
                decide(self.checker, g.source, g.tokens[g.pending])
                keep = ~g.pending | (g.source.memo[g.tokens] == 1)
                g.tokens, g.logp, g.pending, g.source = g.tokens[keep], g.logp[keep], None, None
            if g.tokens.size:
                groups.append(g)
        state.groups = groups
        return state

    def cover_logprobs(self, state: ByteState) -> list[torch.Tensor]:
        """Next-token log-probabilities of the exact covers of ``state``. On a miss the forward also scores the
        covers the next bytes will most likely need (:meth:`_speculate`)."""
        return self.scorer.logprobs(
            [state.anchor + ids for ids, _ in state.exact], prefetch=lambda: self._speculate(state)
        )

    def _speculate(self, state: ByteState) -> list[tuple[int, ...]]:
        """Guesses of the exact covers of the next positions: the canonical encodings of the text extended byte by
        byte along the rest of its most probable covers that run past the end (``speculate`` of them). A wrong
        guess costs only its share of the forward; the results never depend on the guesses."""
        k = self.config.speculate
        if not k or not state.groups:
            return []
        members = []
        for g in state.groups:  # each group's k most probable members, then the k best of those
            top = np.argpartition(-g.logp, k - 1)[:k] if g.logp.size > k else np.arange(g.logp.size)
            members += [(float(g.logp[i]), g, int(g.tokens[i])) for i in top.tolist()]
        members.sort(key=lambda m: -m[0])
        local = state.stream[state.anchor_bytes :]
        pieces = []
        for _, g, t in members[:k]:
            rest = (self.vocab.token_bytes[t] or b"")[g.consumed :]
            pieces += [local + rest[:j] for j in range(1, len(rest) + 1)]
        pieces = [p for p in dict.fromkeys(pieces) if utf8_status(p) == "ok" and p.startswith(self.vocab.dummy_prefix)]
        try:
            return [state.anchor + tuple(ids) for ids in self.vocab.encode_many(pieces)] if pieces else []
        except ValueError:  # a piece the tokenizer does not reproduce: no guesses
            return []

    def _log_masses(self, state: ByteState) -> np.ndarray:
        """Unnormalised log P(x b) for the 256 bytes and log P(x, end), relative to the anchor."""
        parts: list[np.ndarray] = []
        index: list[np.ndarray] = []
        self.resolve(state)
        for g in state.groups:
            parts.append(g.logp)
            index.append(self.vocab.byte_matrix[g.tokens, g.consumed].astype(np.int64))
        if state.exact:
            lps = self.cover_logprobs(state)
            cands = self.vocab.text_ids
            complete = utf8_status(state.stream) == "ok"
            for (ids, lp0), lp in zip(state.exact, lps):
                ok = self._valid(state, ids, cands, lp)
                toks = cands[ok]
                parts.append(lp0 + lp[torch.from_numpy(toks)].double().numpy())
                index.append(self.vocab.first_byte[toks])
                if complete and self.vocab.eos_ids:
                    parts.append(np.array([lp0 + float(torch.logsumexp(lp[self.vocab.eos_ids], 0))]))
                    index.append(np.array([END]))
        out = np.full(END + 1, float("-inf"))
        if not parts:
            return out
        values, idx = np.concatenate(parts), np.concatenate(index)
        top = np.full(END + 1, float("-inf"))
        np.maximum.at(top, idx, values)
        finite = np.isfinite(top)
        sums = np.zeros(END + 1)
        shifted = values - np.where(np.isfinite(top[idx]), top[idx], 0.0)
        np.add.at(sums, idx, np.exp(shifted))
        out[finite] = top[finite] + np.log(sums[finite])
        return out

    def _valid(self, state: ByteState, ids: tuple[int, ...], cands: np.ndarray, lp: torch.Tensor) -> np.ndarray:
        """Boolean mask over ``cands``: is ``anchor + ids + [t]`` a valid (canonical) token sequence?

        For byte-level BPE the answer depends only on the last pre-token ``q`` of the text and on ``t`` (the start
        of the last pre-token does not move when text is appended, the same property the anchor relies on), so the
        mask is cached per ``q``: whitespace runs, punctuation and word prefixes recur, and a step whose ``q`` was
        seen before costs no re-encoding at all.
        """
        memo, ids, is_pretoken = self.cover_memo(state, ids)
        unknown = cands[memo[cands] < 0]
        if unknown.size and self.config.validity_tail >= 1.0:
            memo[unknown] = 1
        elif unknown.size:
            if self.config.validity_tail > 0:
                unknown = self._trust_tail(memo, unknown, lp)
            self.checker.check(memo, ids, unknown, last_char(state.stream), is_pretoken)
        return memo[cands] == 1

    def cover_memo(self, state: ByteState, ids: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...], bool]:
        """The validity memo of the exact cover ``ids`` of ``state`` (1 valid, 0 not, -1 unknown, per next token),
        the token ids a check re-encodes and whether they are a pre-token (see :meth:`CanonicalityChecker.memo_for`).
        In trust mode (``validity_tail > 0``) the memo is this wrapper's own: it also holds trusted candidates."""
        key = state.anchor + ids
        if self.config.validity_tail == 0:
            return self.checker.memo_for(state.stream[state.anchor_bytes :], key, ids)
        memo = self._trust_memo.get(key)
        if memo is None:
            memo = np.full(self.vocab.vocab_size, -1, dtype=np.int8)
            if len(self._trust_memo) > 512:
                self._trust_memo.clear()
            self._trust_memo[key] = memo
        return memo, ids, False

    def _trust_tail(self, memo: np.ndarray, unknown: np.ndarray, lp: torch.Tensor) -> np.ndarray:
        """Mark the least likely candidates (total probability <= validity_tail) valid; return the rest."""
        probs = lp[torch.from_numpy(unknown)].double().exp().numpy()
        order = np.argsort(-probs)
        tail_mass = np.cumsum(probs[order][::-1])[::-1]  # mass of order[k:]
        trusted = order[tail_mass <= self.config.validity_tail]
        memo[unknown[trusted]] = 1
        return unknown[np.setdiff1d(order, trusted, assume_unique=True)]


def _as_bytes(value: bytes | str, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes or str, got {type(value).__name__}")
