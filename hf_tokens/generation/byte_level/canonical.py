"""Is a token sequence canonical? The tokenizer-only validity check of the byte-level LM (arXiv 2410.09303).

The Byte-Token Representation Lemma sums over *valid* cover encodings: token sequences the tokenizer itself
produces. :class:`CanonicalityChecker` decides whether ``cover + [t]`` is valid for many next tokens ``t`` at once
by re-encoding its bytes from a stable anchor, and remembers the answers. Everything here depends on the tokenizer
only, never on a model, so one checker (its tables and its memo) serves every :class:`ByteLevelLM` built on the same
tokenizer: :meth:`CanonicalityChecker.shared` returns the same object for tokenizers with the same content.

Two exact accelerations (switchable for tests, which compare them with the plain check over whole vocabularies):

* **pre-token memo** (``use_pretoken_cache``, byte-level BPE): the answer for ``cover + [t]`` depends only on the
  text's last pre-token ``q`` and on ``t`` when the cover ends with the canonical tokens of ``q``, so the memo is
  keyed by ``q`` (whitespace runs, punctuation and word prefixes recur);
* **shortcuts** (``use_shortcut``, the GPT-2 / Llama-3 / Qwen / SmolLM2 pre-tokenizer regexes): a token that starts
  a new pre-token is decided by a per-token table, and letters after a word pre-token by the BPE model alone.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import OrderedDict
from typing import Any

import numpy as np

from hf_tokens.generation.byte_level.vocab import ByteVocab, utf8_status

_SHARED: OrderedDict[tuple[str, bool, bool], CanonicalityChecker] = OrderedDict()
_SHARED_SIZE = 4
_MEMO_SIZE = 512
_Q_TOKENS_SIZE = 4096


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of everything the byte view of ``tokenizer`` depends on (pipeline, vocabulary, special tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(tokenizer, "get_vocab"):
        raise TypeError(
            "tokenizer must be a transformers fast tokenizer (PreTrainedTokenizerFast), "
            f"got {type(tokenizer).__name__}"
        )
    extra = (
        len(tokenizer),
        tokenizer.eos_token_id,
        sorted(tokenizer.all_special_ids),
        sorted(tokenizer.get_added_vocab().items()),
    )
    return hashlib.sha256((backend.to_str() + repr(extra)).encode("utf-8")).hexdigest()


class CanonicalityChecker:
    """Validity of ``cover + [t]`` for a tokenizer: per-token tables, a memo per cover (or per last pre-token), and
    the batched re-encoding that fills it. ``validity_checks`` counts the candidates decided by re-encoding."""

    def __init__(self, tokenizer: Any, *, use_shortcut: bool = True, use_pretoken_cache: bool = True) -> None:
        self.vocab = ByteVocab(tokenizer)
        self.use_shortcut = bool(use_shortcut)
        self.use_pretoken_cache = bool(use_pretoken_cache)
        self.validity_checks = 0
        self._memo: dict[tuple[int, ...] | bytes, np.ndarray] = {}
        self._q_tokens: dict[bytes, tuple[int, ...]] = {}
        tb = self.vocab.token_bytes
        self._token_text = [b.decode("utf-8") if b and utf8_status(b) == "ok" else "" for b in tb]
        self._token_text_ok = np.array([bool(t) for t in self._token_text], dtype=bool)
        self._build_word_tables(tokenizer)

    @classmethod
    def shared(
        cls, tokenizer: Any, *, use_shortcut: bool = True, use_pretoken_cache: bool = True
    ) -> CanonicalityChecker:
        """The checker of ``tokenizer`` with these switches, built once and reused by every byte-level LM on a
        tokenizer with the same content (the last few tokenizers are kept)."""
        key = (tokenizer_fingerprint(tokenizer), bool(use_shortcut), bool(use_pretoken_cache))
        checker = _SHARED.get(key)
        if checker is None:
            checker = cls(tokenizer, use_shortcut=use_shortcut, use_pretoken_cache=use_pretoken_cache)
            _SHARED[key] = checker
            while len(_SHARED) > _SHARED_SIZE:
                _SHARED.popitem(last=False)
        _SHARED.move_to_end(key)
        return checker

    def _build_word_tables(self, tokenizer: Any) -> None:
        """Per-token tables of the shortcuts: tokens " x..." (x not a space), whether each token is its own canonical
        encoding, and its letter classes; and whether the tokenizer's regex is one the shortcuts are exact for."""
        n = self.vocab.vocab_size
        self._space_words = np.zeros(n, dtype=bool)
        self._self_canonical = np.zeros(n, dtype=np.int8)
        self._starts_non_letter = np.zeros(n, dtype=bool)
        self._all_letters = np.zeros(n, dtype=bool)
        self._starts_letter = np.zeros(n, dtype=bool)
        self._letter_rule = self._known_regex = False
        self._mapped: list[str] = []
        if self.vocab.kind != "byte_level":
            return
        ids, texts = [], []
        for t, text in enumerate(self._token_text):
            if text:
                self._space_words[t] = len(text) > 1 and text[0] == " " and not text[1].isspace()
                # combining marks are excluded: an NFC normalizer (Qwen) composes them with the previous letter
                self._starts_non_letter[t] = not text[0].isalpha() and not unicodedata.category(text[0]).startswith(
                    "M"
                )
                self._all_letters[t] = text.isalpha()
                self._starts_letter[t] = text[0].isalpha()
                ids.append(t)
                texts.append(text)
        for t, enc in zip(ids, self.vocab.backend.encode_batch(texts, add_special_tokens=False)):
            self._self_canonical[t] = int(list(enc.ids) == [t])
        self._mapped = tokenizer.convert_ids_to_tokens(list(range(n)))
        spec = json.loads(self.vocab.backend.to_str())
        pre = json.dumps(spec.get("pre_tokenizer"))
        self._known_regex = '"use_regex": true' in pre or ("'s|'t|'re" in pre and "\\p{L}+" in pre)
        # the letter rule runs the BPE model without the normalizer: only for tokenizers that have none
        self._letter_rule = (
            self._known_regex and not spec["model"].get("ignore_merges", False) and not spec.get("normalizer")
        )

    # ------------------------------------------------------------------------------------------------------ memo
    def memo_for(
        self, local: bytes, key: tuple[int, ...], ids: tuple[int, ...]
    ) -> tuple[np.ndarray, tuple[int, ...], bool]:
        """The validity memo (1 valid, 0 not, -1 unknown, per next token) of the cover ``ids``, the token ids a check
        re-encodes (the cover, or only its last pre-token's tokens), and whether they are a pre-token.

        ``local`` is the text since the anchor (the bytes of ``ids``), ``key`` the cover with the anchor's tokens.
        """
        memo_key: tuple[int, ...] | bytes = key
        last = self._last_pretoken(local, ids) if self.use_pretoken_cache else None
        if last is not None:
            memo_key, ids = last
        memo = self._memo.get(memo_key)
        if memo is None:
            memo = np.full(self.vocab.vocab_size, -1, dtype=np.int8)
            if len(self._memo) > _MEMO_SIZE:
                self._memo.clear()
            self._memo[memo_key] = memo
        return memo, ids, last is not None

    def _last_pretoken(self, local: bytes, ids: tuple[int, ...]) -> tuple[bytes, tuple[int, ...]] | None:
        """``(q, tokens of q)`` when the cover ``ids`` ends with the canonical tokens of the text's last pre-token
        ``q`` (byte-level BPE with a pre-tokenizer only), else None (the caller checks the whole cover).

        The start of the last pre-token is assumed not to move when text is appended (the property the anchor
        relies on), which holds for the GPT-2 / Llama-3 / Qwen / SmolLM2 regexes.
        """
        vocab = self.vocab
        if vocab.kind != "byte_level" or vocab.backend.pre_tokenizer is None:
            return None
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
            if len(self._q_tokens) > _Q_TOKENS_SIZE:
                self._q_tokens.clear()
            self._q_tokens[q] = tuple(vocab.backend.encode(text[start:], add_special_tokens=False).ids)
        return (q, toks) if self._q_tokens[q] == toks else None

    # ----------------------------------------------------------------------------------------------------- checks
    def check(
        self,
        memo: np.ndarray,
        ids: tuple[int, ...],
        tokens: np.ndarray,
        last_char: str = "",
        is_pretoken: bool = False,
    ) -> None:
        """Decide validity of ``ids + [t]`` for each ``t`` in ``tokens`` by re-encoding its bytes; write ``memo``.

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
        (the tokenizer's BPE model, no pre-tokenizer: much cheaper than a full encode) ends in ``t``. Returns
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

    def is_canonical(self, ids: tuple[int, ...]) -> bool:
        """Whether the token sequence ``ids`` (from an anchor) is the canonical encoding of its bytes; a sequence
        that ends inside a character counts as canonical when its complete part is consistent."""
        piece = self.vocab.decode(ids)
        status = utf8_status(piece)
        if status != "ok":
            return status == "partial"
        dummy = self.vocab.dummy_prefix
        if dummy and not piece.startswith(dummy):
            return False
        got = self.vocab.backend.encode(piece[len(dummy) :].decode("utf-8"), add_special_tokens=False).ids
        return list(got) == list(ids)


def last_char(stream: bytes) -> str:
    """The last character of ``stream`` ('' when it is empty or ends inside a character)."""
    tail = stream[-4:]
    for k in range(len(tail)):
        try:
            return tail[k:].decode("utf-8")[-1]
        except UnicodeDecodeError:
            continue
    return ""
