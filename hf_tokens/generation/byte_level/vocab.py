"""The byte view of a tokenizer: each token's byte string, a prefix index over them, canonical encodings.

:class:`ByteVocab` supports the two tokenizer families whose tokens are byte strings:

* byte-level BPE (GPT-2, Llama-3, Qwen, SmolLM2): token strings are bytes mapped through the GPT-2 byte-to-unicode
  table, pre-tokenized by a regex;
* SentencePiece BPE with byte fallback (Llama-2, Mistral, Gemma): ``▁`` stands for a space, ``<0xNN>`` for a byte,
  and the normalizer may prepend a dummy ``▁`` to the text.

Internally everything works on the *stream*: the bytes the token sequence decodes to. For tokenizers with a dummy
prefix the stream is ``b" " + text`` (the first token carries the prepended space); otherwise it is the text itself.

The prefix index ("trie" of the paper) is a sorted array of the token byte strings: the tokens whose bytes start
with ``p`` form one contiguous slice, found with two binary searches, so a lookup costs ``O(|p| log |V|)`` and the
work after it grows with the number of matching tokens, not with the vocabulary.
"""

from __future__ import annotations

import bisect
import functools
import json
from typing import Any

import numpy as np

_BYTE_TOKEN_PREFIX = "<0x"


@functools.lru_cache(maxsize=1)
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's ``bytes_to_unicode`` table (printable bytes map to themselves, others to U+0100...)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in mapping.items()}


def _utf8_status(data: bytes) -> str:
    """'ok' (valid UTF-8), 'partial' (valid up to an incomplete final character) or 'invalid'."""
    try:
        data.decode("utf-8")
        return "ok"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and exc.end == len(data):
            return "partial"
        return "invalid"


class ByteVocab:
    """Byte strings of a tokenizer's tokens, a sorted-array prefix index over them, and canonical encoding.

    Raises ``TypeError`` for an object that is not a Hugging Face fast tokenizer and ``ValueError`` for a tokenizer
    that is neither byte-level BPE nor SentencePiece BPE with byte fallback, or whose vocabulary is empty.
    """

    def __init__(self, tokenizer: Any, *, extra_eos_ids: tuple[int, ...] = ()) -> None:
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None or not hasattr(tokenizer, "get_vocab"):
            raise TypeError(
                "tokenizer must be a transformers fast tokenizer (PreTrainedTokenizerFast), "
                f"got {type(tokenizer).__name__}"
            )
        spec = json.loads(backend.to_str())
        model = spec.get("model") or {}
        vocab: dict[str, int] = tokenizer.get_vocab()
        if not vocab:
            raise ValueError("tokenizer has an empty vocabulary mapping; a byte-level LM needs the token strings")
        if model.get("type") != "BPE":
            raise ValueError(
                f"tokenizer model is {model.get('type')!r}; byte-level probabilities need a byte-level BPE "
                "(GPT-2/Llama-3/Qwen/SmolLM2 style) or a SentencePiece BPE with byte fallback (Llama-2/Mistral/Gemma)"
            )
        byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) or "ByteLevel" in json.dumps(
            spec.get("decoder")
        )
        if byte_level:
            self.kind = "byte_level"
        elif model.get("byte_fallback"):
            self.kind = "sentencepiece"
        else:
            raise ValueError(
                "tokenizer is a BPE without byte-level mapping or byte fallback, so some bytes have no token; "
                "allowed: byte-level BPE or SentencePiece BPE with byte_fallback=True"
            )
        self.tokenizer = tokenizer
        # a private copy of the Rust tokenizer: the transformers wrapper switches padding/truncation on the shared
        # backend per call (e.g. token healing pads), which would silently change every validity re-encoding
        from tokenizers import Tokenizer

        self.backend = Tokenizer.from_str(backend.to_str())
        self.backend.no_padding()
        self.backend.no_truncation()
        self.vocab_size = max(len(tokenizer), max(vocab.values()) + 1)
        special = set(tokenizer.all_special_ids) | {i for t, i in tokenizer.get_added_vocab().items()}
        token_bytes: list[bytes | None] = [None] * self.vocab_size
        u2b = _unicode_to_byte()
        for tok, idx in vocab.items():
            if idx in special:
                continue
            if self.kind == "byte_level":
                if all(c in u2b for c in tok):
                    token_bytes[idx] = bytes(u2b[c] for c in tok)
            elif tok.startswith(_BYTE_TOKEN_PREFIX) and tok.endswith(">") and len(tok) == 6:
                token_bytes[idx] = bytes([int(tok[3:5], 16)])
            else:
                token_bytes[idx] = tok.replace("▁", " ").encode("utf-8")
        self.token_bytes = token_bytes
        text_ids = [i for i, b in enumerate(token_bytes) if b]
        if not text_ids:
            raise ValueError("tokenizer has no token that stands for text; cannot build a byte-level LM")
        order = sorted(text_ids, key=lambda i: token_bytes[i])  # type: ignore[arg-type,return-value]
        self._keys: list[bytes] = [token_bytes[i] for i in order]  # type: ignore[misc]
        self._sorted_ids = np.asarray(order, dtype=np.int64)
        self.text_ids = np.asarray(sorted(text_ids), dtype=np.int64)
        self.max_token_bytes = max(len(k) for k in self._keys)
        # first byte of each text token (-1 for special tokens), for scattering token mass onto next bytes
        first = np.full(self.vocab_size, -1, dtype=np.int64)
        for i in text_ids:
            first[i] = token_bytes[i][0]  # type: ignore[index]
        self.first_byte = first
        # byte lengths (0 for special tokens) and a [vocab, longest] matrix of token bytes (-1 past the end)
        self.lengths = np.array([len(b) if b else 0 for b in token_bytes], dtype=np.int64)
        matrix = np.full((self.vocab_size, int(self.lengths.max())), -1, dtype=np.int16)
        for i in text_ids:
            b = token_bytes[i]
            matrix[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)  # type: ignore[arg-type]
        self.byte_matrix = matrix
        eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        self.eos_ids = sorted({int(e) for e in (*eos, *extra_eos_ids)})
        self.dummy_prefix = self._detect_dummy_prefix()

    # ----------------------------------------------------------------------------------------------- prefix index
    def with_prefix(self, prefix: bytes) -> np.ndarray:
        """Ids of the tokens whose byte string starts with ``prefix`` (all text tokens for ``b""``)."""
        if not prefix:
            return self.text_ids
        lo = bisect.bisect_left(self._keys, prefix)
        hi = lo
        upper = _successor(prefix)
        hi = bisect.bisect_left(self._keys, upper, lo) if upper is not None else len(self._keys)
        return self._sorted_ids[lo:hi]

    # ------------------------------------------------------------------------------------------ canonical encoding
    def _detect_dummy_prefix(self) -> bytes:
        ids = self.tokenizer.encode("a", add_special_tokens=False)
        stream = b"".join(self.token_bytes[i] or b"" for i in ids)
        if stream == b"a":
            return b""
        if stream == b" a":
            return b" "
        raise ValueError(f"tokenizer encodes 'a' to bytes {stream!r}; cannot map its tokens to bytes")

    def stream_of(self, text: bytes) -> bytes:
        """The stream (what the tokens decode to) of user ``text`` bytes."""
        return self.dummy_prefix + text

    def decode(self, ids: Any) -> bytes:
        """Stream bytes of a token sequence (special tokens contribute nothing)."""
        return b"".join(self.token_bytes[int(i)] or b"" for i in ids)

    def encode(self, stream: bytes, *, at_start: bool = True) -> list[int]:
        """Canonical token ids of ``stream`` (valid UTF-8). ``at_start=False`` encodes a piece that starts at an
        anchor inside the stream: with a dummy prefix the piece must begin with a space, which the prefix re-adds."""
        return self.encode_many([stream], at_start=at_start)[0]

    def encode_many(self, streams: list[bytes], *, at_start: bool = True) -> list[list[int]]:
        texts = []
        for s in streams:
            if self.dummy_prefix:
                if not s.startswith(self.dummy_prefix):
                    raise ValueError(f"stream piece {s[:20]!r} must start with the dummy prefix {self.dummy_prefix!r}")
                s = s[len(self.dummy_prefix) :]
            texts.append(s.decode("utf-8"))
        encs = self.backend.encode_batch(texts, add_special_tokens=False)
        out = [list(e.ids) for e in encs]
        for s, ids in zip(streams, out):
            if self.decode(ids) != s:
                raise ValueError(
                    f"the tokenizer does not reproduce the bytes {s[-40:]!r} (its normalizer changes the text); "
                    "byte-level probabilities are defined only for text the tokenizer encodes losslessly"
                )
        return out

    def anchor(self, stream: bytes, ids: list[int], keep: int = 2) -> int:
        """Index into ``ids`` of a token boundary that text appended to ``stream`` cannot move.

        Byte-level BPE: the start of the ``keep``-th last pre-token (tokens never cross pre-token boundaries, and the
        regexes of GPT-2/Llama-3/Qwen only ever re-split the last one or two pre-tokens when text is appended).
        SentencePiece: the start of the ``keep``-th last token that begins a word (starts with a space that does not
        continue a run of spaces), the rule of the paper's code. Returns 0 when there is no such boundary.
        """
        starts: list[int] = []  # byte offsets of candidate boundaries
        if self.kind == "byte_level" and self.backend.pre_tokenizer is not None:
            text = stream.decode("utf-8")
            offsets = [o[0] for _, o in self.backend.pre_tokenizer.pre_tokenize_str(text)]
            starts = [len(text[:o].encode("utf-8")) for o in offsets]
        else:
            pos = 0
            prev = b""
            for i in ids:
                tb = self.token_bytes[i] or b""
                if tb.startswith(b" ") and not prev.endswith(b" "):
                    starts.append(pos)
                pos += len(tb)
                prev = tb
        starts = [s for s in starts if s > 0]
        if len(starts) < keep:
            return 0
        target = starts[-keep]
        pos = 0
        for k, i in enumerate(ids):
            if pos == target:
                return k
            pos += len(self.token_bytes[i] or b"")
        return 0


def _successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix`` (None if there is none)."""
    data = bytearray(prefix)
    while data and data[-1] == 0xFF:
        data.pop()
    if not data:
        return None
    data[-1] += 1
    return bytes(data)


def utf8_status(data: bytes) -> str:
    return _utf8_status(data)
