"""A token LM as an exact byte-level LM: the Byte-Token Representation Lemma of Phan et al. (arXiv 2410.09303).

The probability that the text produced by a token LM starts with the bytes ``x`` is the sum, over the *cover
encodings* of ``x``, of their token-level probabilities. A cover encoding is a valid token sequence whose bytes
before its last token are a prefix of ``x`` and whose last token reaches to (or past) the end of ``x``. Then

    P(next byte = b | x) = P(x b) / P(x),      P(end | x) = P(encode(x), eos) / P(x)

and every term is a sum over covers. Covers are kept per step and updated byte by byte (the paper's sampler
state): a cover whose last token runs past the end either matches the next byte (it stays) or not (it is dropped);
a cover that ends exactly at the end of the text is extended by every valid token starting with the next byte. The
model is called only on covers that end exactly at the end (usually one new sequence per byte), batched and
cached by :class:`PrefixScorer`; token candidates come from :class:`ByteVocab`'s prefix index.

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
tokenizer calls. Greedy decoding needs only the argmax: :meth:`ByteLevelLM.greedy_byte` bounds each byte's mass and
checks candidates in order of probability until the winner is certain (exact; about a tenth of the checks on the
tests' models). Measured on SmolLM2-135M, one shared CPU thread (``benchmarks/byte_level.py``): exact byte greedy
~2 bytes/s including the prompt's covers, trust mode (``validity_tail=1``, one small forward per byte) ~3 bytes/s,
token greedy ~20 bytes/s. Pruning covers by probability would not help here: the covers that end exactly at the
text's end (the only ones that cost a forward and a validity check) are one to three per step.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from hf_tokens.generation.byte_level.config import ByteLevelConfig
from hf_tokens.generation.byte_level.scorer import PrefixScorer
from hf_tokens.generation.byte_level.vocab import ByteVocab, utf8_status

END = 256  # index of end-of-text in a next-byte distribution


@dataclass
class _Group:
    """Covers ``prefix + (t,)`` for each ``t`` in ``tokens``, of which ``consumed`` bytes are matched so far."""

    prefix: tuple[int, ...]
    tokens: np.ndarray
    logp: np.ndarray
    consumed: int


@dataclass
class ByteState:
    """Cover encodings of a byte prefix. ``anchor`` holds the committed tokens (start tokens included); cover ids
    are relative to it and their log-probabilities are conditional on it (up to one shared constant)."""

    stream: bytes
    anchor: tuple[int, ...]
    anchor_bytes: int
    exact: list[tuple[tuple[int, ...], float]] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=list)

    @property
    def num_covers(self) -> int:
        return len(self.exact) + sum(len(g.tokens) for g in self.groups)


def _logsumexp(values: np.ndarray) -> float:
    if values.size == 0:
        return float("-inf")
    top = float(values.max())
    if top == float("-inf"):
        return top
    return top + float(np.log(np.exp(values - top).sum()))


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
        self.vocab = ByteVocab(tokenizer)
        out_size = model.get_output_embeddings().weight.shape[0] if model.get_output_embeddings() is not None else None
        if out_size is not None and out_size < len(self.vocab.text_ids) // 2:
            raise ValueError(f"model's output layer has {out_size} rows but the tokenizer has {self.vocab.vocab_size}")
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.scorer = PrefixScorer(model, batch_size=config.batch_size)
        start = config.start_token_id
        if start is None:
            start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if start is None:
            raise ValueError("the tokenizer has neither bos nor eos token; pass start_token_id=")
        self.start_ids: tuple[int, ...] = (int(start),)
        tb = self.vocab.token_bytes
        self._lengths = np.array([len(b) if b else 0 for b in tb], dtype=np.int64)
        width = int(self._lengths.max())
        matrix = np.full((len(tb), width), -1, dtype=np.int16)
        for i, b in enumerate(tb):
            if b:
                matrix[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
        self._byte_matrix = matrix
        self._valid_memo: dict[tuple[int, ...] | bytes, np.ndarray] = {}
        self._q_tokens: dict[bytes, tuple[int, ...]] = {}
        self.validity_checks = 0
        # the two exact accelerations of the validity check (tests compare them with the plain check)
        self.use_shortcut = True
        self.use_pretoken_cache = True
        self._space_words, self._self_canonical = self._word_tables()
        self._token_text = [b.decode("utf-8") if b and utf8_status(b) == "ok" else "" for b in tb]
        self._token_text_ok = np.array([bool(t) for t in self._token_text], dtype=bool)

    def _word_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """Tokens of the form " x..." (x not a space) and whether each token is its own canonical encoding."""
        n = self.vocab.vocab_size
        words = np.zeros(n, dtype=bool)
        canonical = np.zeros(n, dtype=np.int8)
        self._starts_non_letter = np.zeros(n, dtype=bool)
        self._all_letters = np.zeros(n, dtype=bool)
        self._starts_letter = np.zeros(n, dtype=bool)
        self._letter_rule = self._known_regex = False
        self._mapped: list[str] = []
        if self.vocab.kind != "byte_level":
            return words, canonical
        self._starts_non_letter = np.zeros(n, dtype=bool)
        ids, texts = [], []
        for t, b in enumerate(self.vocab.token_bytes):
            if b and utf8_status(b) == "ok":
                text = b.decode("utf-8")
                words[t] = len(text) > 1 and text[0] == " " and not text[1].isspace()
                # combining marks are excluded: an NFC normalizer (Qwen) composes them with the previous letter
                self._starts_non_letter[t] = not text[0].isalpha() and not unicodedata.category(text[0]).startswith(
                    "M"
                )
                ids.append(t)
                texts.append(text)
        for t, enc in zip(ids, self.vocab.backend.encode_batch(texts, add_special_tokens=False)):
            canonical[t] = int(list(enc.ids) == [t])
        for t, text in zip(ids, texts):
            self._all_letters[t] = text.isalpha()
            self._starts_letter[t] = text[0].isalpha()
        self._mapped = self.tokenizer.convert_ids_to_tokens(list(range(n)))
        spec = json.loads(self.vocab.backend.to_str())
        pre = json.dumps(spec.get("pre_tokenizer"))
        known = '"use_regex": true' in pre or ("'s|'t|'re" in pre and "\\p{L}+" in pre)
        self._known_regex = known
        # the letter rule runs the BPE model without the normalizer: only for tokenizers that have none
        self._letter_rule = known and not spec["model"].get("ignore_merges", False) and not spec.get("normalizer")
        return words, canonical

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
            state = self._advance(state, b, reanchor=False)
        return self._reanchor(state)

    def distribution(self, state: ByteState) -> torch.Tensor:
        """P(next byte | state) as a float64 tensor of 257 entries (bytes 0..255, then end-of-text)."""
        logm = self._log_masses(state)
        total = _logsumexp(logm)
        if total == float("-inf"):
            raise ValueError(f"the text {state.stream[-40:]!r} has probability 0 under the model and tokenizer")
        return torch.from_numpy(np.exp(logm - total))

    def advance(self, state: ByteState, byte: int) -> ByteState:
        """The state after appending ``byte`` (0..255)."""
        if not isinstance(byte, (int, np.integer)) or not 0 <= int(byte) < 256:
            raise ValueError(f"byte must be an int in 0..255, got {byte!r}")
        return self._advance(state, int(byte), reanchor=True)

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

    def _split(self, prefix: tuple[int, ...], tokens: np.ndarray, logp: np.ndarray, consumed: int, out: ByteState):
        done = self._lengths[tokens] == consumed
        if done.any() and self.config.validity_tail > 0:
            # trusted candidates were not checked: a cover that ends exactly here must still be canonical
            # (one re-encoding per such cover), else non-canonical paths would multiply step after step
            done_ids = tokens[done]
            ok = np.array([self._canonical_path((*prefix, t)) for t in done_ids.tolist()])
            drop = np.zeros_like(done)
            drop[np.flatnonzero(done)[~ok]] = True
            tokens, logp, done = tokens[~drop], logp[~drop], done[~drop]
        for t, lp in zip(tokens[done].tolist(), logp[done].tolist()):
            out.exact.append(((*prefix, t), lp))
        if (~done).any():
            out.groups.append(_Group(prefix, tokens[~done], logp[~done], consumed))

    def _canonical_path(self, ids: tuple[int, ...]) -> bool:
        piece = self.vocab.decode(ids)
        status = utf8_status(piece)
        if status != "ok":
            return status == "partial"
        dummy = self.vocab.dummy_prefix
        if dummy and not piece.startswith(dummy):
            return False
        got = self.vocab.backend.encode(piece[len(dummy) :].decode("utf-8"), add_special_tokens=False).ids
        return list(got) == list(ids)

    def _advance(self, state: ByteState, byte: int, *, reanchor: bool) -> ByteState:
        new = ByteState(stream=state.stream + bytes([byte]), anchor=state.anchor, anchor_bytes=state.anchor_bytes)
        for g in state.groups:
            keep = self._byte_matrix[g.tokens, g.consumed] == byte
            if keep.any():
                self._split(g.prefix, g.tokens[keep], g.logp[keep], g.consumed + 1, new)
        if state.exact:
            lps = self.scorer.logprobs([state.anchor + ids for ids, _ in state.exact])
            cands = self.vocab.with_prefix(bytes([byte]))
            for (ids, lp0), lp in zip(state.exact, lps):
                ok = self._valid(state, ids, cands, lp)
                toks = cands[ok]
                if toks.size:
                    logp = lp0 + lp[torch.from_numpy(toks)].double().numpy()
                    self._split(ids, toks, logp, 1, new)
        return self._reanchor(new) if reanchor else new

    def _log_masses(self, state: ByteState) -> np.ndarray:
        """Unnormalised log P(x b) for the 256 bytes and log P(x, end), relative to the anchor."""
        parts: list[np.ndarray] = []
        index: list[np.ndarray] = []
        for g in state.groups:
            parts.append(g.logp)
            index.append(self._byte_matrix[g.tokens, g.consumed].astype(np.int64))
        if state.exact:
            lps = self.scorer.logprobs([state.anchor + ids for ids, _ in state.exact])
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
        memo, ids, is_pretoken = self._memo_for(state, ids)
        unknown = cands[memo[cands] < 0]
        if unknown.size and self.config.validity_tail >= 1.0:
            memo[unknown] = 1
        elif unknown.size:
            if self.config.validity_tail > 0:
                unknown = self._trust_tail(memo, unknown, lp)
            self._check(memo, ids, unknown, _last_char(state.stream), is_pretoken)
        return memo[cands] == 1

    def _memo_for(self, state: ByteState, ids: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...], bool]:
        """The validity memo (1 valid, 0 not, -1 unknown, per next token) of the cover ``ids``, the token ids the
        check re-encodes (the cover, or only its last pre-token's tokens), and whether they are a pre-token."""
        key: tuple[int, ...] | bytes = state.anchor + ids
        last = self._last_pretoken(state, ids) if self.use_pretoken_cache and self.config.validity_tail == 0 else None
        if last is not None:
            key, ids = last
        memo = self._valid_memo.get(key)
        if memo is None:
            memo = np.full(self.vocab.vocab_size, -1, dtype=np.int8)
            if len(self._valid_memo) > 512:
                self._valid_memo.clear()
            self._valid_memo[key] = memo
        return memo, ids, last is not None

    def greedy_byte(self, state: ByteState, chunk: int = 1024) -> int:
        """``argmax`` of :meth:`distribution` (a byte, or :data:`END`), deciding the validity of next-token
        candidates only until the winner is certain: a byte's mass lies between the mass of its candidates known
        valid and that plus its unchecked ones, and candidates of the contending bytes are checked in order of
        probability until the leader's lower bound reaches every other byte's upper bound. Exact (same answer as
        the full check, up to floating-point ties); trust mode (``validity_tail > 0``) uses the full distribution.
        """
        if self.config.validity_tail > 0 or not state.exact:
            return int(torch.argmax(self.distribution(state)))
        lps = self.scorer.logprobs([state.anchor + ids for ids, _ in state.exact])
        shift = max([lp for _, lp in state.exact] + [float(g.logp.max()) for g in state.groups if g.logp.size])
        fixed = np.zeros(END + 1)  # mass that needs no check: covers running past the end, end of text
        for g in state.groups:
            np.add.at(fixed, self._byte_matrix[g.tokens, g.consumed].astype(np.int64), np.exp(g.logp - shift))
        complete = utf8_status(state.stream) == "ok"
        cands = self.vocab.text_ids
        first = self.vocab.first_byte[cands]
        covers = []
        for (ids, lp0), lp in zip(state.exact, lps):
            if complete and self.vocab.eos_ids:
                fixed[END] += float(np.exp(lp0 - shift + float(torch.logsumexp(lp[self.vocab.eos_ids], 0))))
            memo, check_ids, is_pretoken = self._memo_for(state, ids)
            mass = np.exp(lp0 - shift + lp[torch.from_numpy(cands)].double().numpy())
            covers.append((memo, check_ids, is_pretoken, mass))
        last_char = _last_char(state.stream)
        while True:
            low, high = fixed.copy(), fixed.copy()
            for memo, _, _, mass in covers:
                status = memo[cands]
                np.add.at(low, first[status == 1], mass[status == 1])
                np.add.at(high, first[status != 0], mass[status != 0])
            best = int(np.argmax(low))
            rivals = high.copy()
            rivals[best] = -1.0
            if low[best] >= rivals.max():
                return best
            contenders = high > low[best]
            contenders[best] = True
            checked = 0
            for memo, check_ids, is_pretoken, mass in covers:
                todo = np.flatnonzero((memo[cands] < 0) & contenders[first])
                if todo.size:
                    top = todo[np.argsort(-mass[todo])[:chunk]]
                    self._check(memo, check_ids, cands[top], last_char, is_pretoken)
                    checked += top.size
            if not checked:  # every contender decided: the bounds met (kept as a guard against a float tie)
                return best

    def _last_pretoken(self, state: ByteState, ids: tuple[int, ...]) -> tuple[bytes, tuple[int, ...]] | None:
        """``(q, tokens of q)`` when the exact cover ``ids`` ends with the canonical tokens of the text's last
        pre-token ``q`` (byte-level BPE with a pre-tokenizer only), else None (the caller checks the whole cover)."""
        vocab = self.vocab
        if vocab.kind != "byte_level" or vocab.backend.pre_tokenizer is None:
            return None
        local = state.stream[state.anchor_bytes :]
        if not local or utf8_status(local) != "ok":
            return None
        text = local.decode("utf-8")
        start = vocab.backend.pre_tokenizer.pre_tokenize_str(text)[-1][1][0]
        q = text[start:].encode("utf-8")
        n, size = 0, 0
        while size < len(q) and n < len(ids):
            n += 1
            size += len(vocab.token_bytes[ids[-n]] or b"")
        if size != len(q):
            return None
        toks = tuple(ids[-n:])
        if q not in self._q_tokens:
            if len(self._q_tokens) > 4096:
                self._q_tokens.clear()
            self._q_tokens[q] = tuple(vocab.backend.encode(text[start:], add_special_tokens=False).ids)
        return (q, toks) if self._q_tokens[q] == toks else None

    def _trust_tail(self, memo: np.ndarray, unknown: np.ndarray, lp: torch.Tensor) -> np.ndarray:
        """Mark the least likely candidates (total probability <= validity_tail) valid; return the rest."""
        probs = lp[torch.from_numpy(unknown)].double().exp().numpy()
        order = np.argsort(-probs)
        tail_mass = np.cumsum(probs[order][::-1])[::-1]  # mass of order[k:]
        trusted = order[tail_mass <= self.config.validity_tail]
        memo[unknown[trusted]] = 1
        return unknown[np.setdiff1d(order, trusted, assume_unique=True)]

    def _check(
        self,
        memo: np.ndarray,
        ids: tuple[int, ...],
        tokens: np.ndarray,
        last_char: str = "",
        is_pretoken: bool = False,
    ) -> None:
        """Decide validity of ``ids + [t]`` for each ``t`` by re-encoding its bytes from the anchor.

        Shortcut (byte-level BPE only, exact for the GPT-2 / Llama-3 / Qwen / SmolLM2 pre-tokenizer regexes, whose
        letter, number and punctuation patterns never absorb a following space): after text ending in a
        non-space character, a token " x..." (space, then a non-space) starts a new pre-token exactly as it would
        alone, so it is valid iff it is its own canonical encoding. ``tests/generation/test_byte_level*.py``
        compares the shortcut with the full check on those tokenizers.
        """
        if self.use_shortcut and self._known_regex and last_char and not last_char.isspace():
            # after a letter, also every token that does not start with a letter starts a new pre-token
            fresh = self._space_words[tokens] | (self._starts_non_letter[tokens] if last_char.isalpha() else False)
            if fresh.any():
                memo[tokens[fresh]] = self._self_canonical[tokens[fresh]]
                tokens = tokens[~fresh]
        local = self.vocab.decode(ids)
        if self.use_shortcut and is_pretoken and self._letter_rule and last_char.isalpha() and tokens.size:
            tokens = self._check_letters(memo, ids, local, tokens)
        tb = self.vocab.token_bytes
        todo: list[int] = []
        texts: list[str] = []
        dummy = self.vocab.dummy_prefix
        if not dummy and tokens.size and utf8_status(local) == "ok":
            # text + a token that is itself valid UTF-8 is valid UTF-8: join the decoded strings without byte checks
            whole = self._token_text_ok[tokens]
            local_text = local.decode("utf-8")
            todo = tokens[whole].tolist()
            texts = [local_text + self._token_text[t] for t in todo]
            tokens = tokens[~whole]
        for t in tokens.tolist():
            piece = local + tb[t]  # type: ignore[operator]
            status = utf8_status(piece)
            if status == "partial" and utf8_status(local) != "invalid":
                memo[t] = 1
            elif status != "ok" or (dummy and not piece.startswith(dummy)):
                memo[t] = 0
            else:
                todo.append(t)
                texts.append(piece[len(dummy) :].decode("utf-8"))
        if not todo:
            return
        self.validity_checks += len(todo)
        target = list(ids)
        for t, enc in zip(todo, self.vocab.backend.encode_batch(texts, add_special_tokens=False)):
            got = enc.ids
            memo[t] = int(len(got) == len(target) + 1 and got[-1] == t and got[:-1] == target)

    def _check_letters(self, memo: np.ndarray, ids: tuple[int, ...], q: bytes, tokens: np.ndarray) -> np.ndarray:
        """Letter tokens after a word pre-token ``q`` (" ret", "ret", "(ret"): the letters extend the pre-token, so
        ``ids + [t]`` is valid iff ``t`` is all letters, its own canonical encoding, and BPE of ``q + t`` alone
        (the tokenizer's BPE model, no pre-tokenizer: about 5x cheaper than a full encode) ends in ``t``. Returns
        the tokens left for the full check."""
        text = q.decode("utf-8")
        if text[0] == "'" or not (len(text) == 1 or text[1:].isalpha()):
            return tokens
        letter = self._all_letters[tokens] | self._starts_letter[tokens]
        cand = tokens[self._all_letters[tokens] & (self._self_canonical[tokens] == 1)]
        memo[tokens[letter]] = 0
        mapped_q = self._mapped[ids[0]] if len(ids) == 1 else "".join(self._mapped[i] for i in ids)
        bpe = self.vocab.backend.model
        target = list(ids)
        self.validity_checks += len(cand)
        for t in cand.tolist():
            got = [tk.id for tk in bpe.tokenize(mapped_q + self._mapped[t])]
            memo[t] = int(got[:-1] == target and got[-1] == t)
        return tokens[~letter]

    def _reanchor(self, state: ByteState) -> ByteState:
        """Move the anchor forward to the stable boundary of the current text when every cover shares it."""
        stream = state.stream
        if utf8_status(stream) != "ok" or len(stream) - state.anchor_bytes < 16:
            return state
        try:
            ids = self.vocab.encode(stream)
        except ValueError:
            return state
        k = self.vocab.anchor(stream, ids, self.config.anchor_pretokens)
        new_bytes = len(self.vocab.decode(ids[:k]))
        if new_bytes <= state.anchor_bytes:
            return state
        # tokens of the canonical encoding between the old and the new anchor
        pos, j = 0, 0
        while j < k and pos < state.anchor_bytes:
            pos += len(self.vocab.token_bytes[ids[j]] or b"")
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


def _last_char(stream: bytes) -> str:
    """The last character of ``stream`` ('' when it is empty or ends inside a character)."""
    tail = stream[-4:]
    for k in range(len(tail)):
        try:
            return tail[k:].decode("utf-8")[-1]
        except UnicodeDecodeError:
            continue
    return ""


def _as_bytes(value: bytes | str, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes or str, got {type(value).__name__}")
