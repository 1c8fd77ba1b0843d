"""Surface forms of a tokenizer's vocabulary: which bytes each token id stands for.

Tokenizer transplantation matches tokens across vocabularies whose string forms differ (``Ġthe`` in byte-level BPE,
``▁the`` in SentencePiece, ``<0x0A>`` byte-fallback tokens). :func:`surface_forms` maps every id of a fast tokenizer
to the bytes it decodes to, so that two tokens are "the same" when their byte strings are equal:

* byte-level decoders (GPT-2, Qwen, SmolLM2, Llama-3): each character of the token is one byte through the GPT-2
  ``bytes_to_unicode`` table (``Ġ`` -> ``0x20``);
* SentencePiece-style decoders (a ``Replace("▁", " ")`` or ``Metaspace`` step, optionally ``ByteFallback``):
  ``▁`` -> space, ``<0xHH>`` -> that byte, everything else UTF-8;
* any other decoder: the decoder applied to the single token (``"##ing"`` -> ``"ing"`` for WordPiece).

Added tokens (special or not) stand for their literal content. A tokenizer without a decoder cannot be matched
reliably and is rejected with a ``ValueError``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@functools.lru_cache(maxsize=1)
def byte_level_alphabet() -> dict[str, int]:
    """The inverse of GPT-2's ``bytes_to_unicode``: printable stand-in character -> byte value."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def _decoder_json(backend: Any) -> dict[str, Any] | None:
    decoder = backend.decoder
    if decoder is None:
        return None
    state = decoder.__getstate__()
    return json.loads(state.decode() if isinstance(state, bytes) else state)


def _decoder_types(spec: dict[str, Any]) -> list[str]:
    if spec.get("type") == "Sequence":
        return [t for sub in spec.get("decoders", []) for t in _decoder_types(sub)]
    return [str(spec.get("type"))]


def decoding_scheme(tokenizer: Any, *, argument: str = "tokenizer") -> str:
    """``"byte_level"``, ``"sentencepiece"`` or ``"decoder"`` (generic); ``ValueError`` without a decoder."""
    backend = backend_of(tokenizer, argument=argument)
    spec = _decoder_json(backend)
    if spec is None:
        raise ValueError(
            f"{argument} has no decoder (backend_tokenizer.decoder is None), so its tokens' text cannot be recovered "
            "and matched against the other vocabulary; set a decoder (e.g. tokenizers.decoders.ByteLevel()) first"
        )
    types = _decoder_types(spec)
    if "ByteLevel" in types:
        return "byte_level"
    if "Metaspace" in types or ("Replace" in types and "▁" in json.dumps(spec, ensure_ascii=False)):
        return "sentencepiece"
    return "decoder"


def backend_of(tokenizer: Any, *, argument: str = "tokenizer") -> Any:
    """The ``tokenizers.Tokenizer`` behind a fast HF tokenizer, or ``TypeError`` naming ``argument``."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "get_vocab_size"):
        raise TypeError(
            f"{argument} must be a fast Hugging Face tokenizer (PreTrainedTokenizerFast, with a backend_tokenizer), "
            f"got {type(tokenizer).__name__}"
        )
    return backend


@dataclass(frozen=True)
class Vocabulary:
    """Byte surface form of every id of a tokenizer (``None`` for ids the tokenizer never produces)."""

    surfaces: tuple[bytes | None, ...]
    special: frozenset[int]
    byte_fallback: frozenset[int]
    scheme: str

    def __len__(self) -> int:
        return len(self.surfaces)

    def text(self, idx: int) -> str:
        """The token's text (invalid UTF-8, e.g. half a character, becomes U+FFFD)."""
        surface = self.surfaces[idx]
        return "" if surface is None else surface.decode("utf-8", errors="replace")

    def lookup(self) -> dict[bytes, int]:
        """Surface -> id for ordinary tokens; where several ids share a surface, the one the tokenizer emits wins
        (a regular token over a ``<0xHH>`` byte-fallback token, then the lowest id)."""
        out: dict[bytes, int] = {}
        for idx, surface in enumerate(self.surfaces):
            if surface is None or idx in self.special:
                continue
            if surface not in out or (out[surface] in self.byte_fallback and idx not in self.byte_fallback):
                out[surface] = idx
        return out

    def fingerprint(self) -> str:
        """A stable hash of the vocabulary (ids, surfaces, special flags): a cache key for per-vocabulary data."""
        h = hashlib.sha256(self.scheme.encode())
        for idx, surface in enumerate(self.surfaces):
            h.update(b"\x00S" if idx in self.special else b"\x00T")
            h.update(b"\x01" if surface is None else surface)
        return h.hexdigest()[:20]


def surface_forms(tokenizer: Any, *, argument: str = "tokenizer") -> Vocabulary:
    """The :class:`Vocabulary` of a fast tokenizer (see the module docstring for the rules)."""
    backend = backend_of(tokenizer, argument=argument)
    scheme = decoding_scheme(tokenizer, argument=argument)
    size = backend.get_vocab_size(with_added_tokens=True)
    added = backend.get_added_tokens_decoder()
    size = max(size, max(added, default=-1) + 1)
    alphabet = byte_level_alphabet()
    surfaces: list[bytes | None] = [None] * size
    special: set[int] = set()
    fallback: set[int] = set()
    for idx in range(size):
        if idx in added:
            surfaces[idx] = added[idx].content.encode("utf-8")
            if added[idx].special:
                special.add(idx)
            continue
        token = backend.id_to_token(idx)
        if token is None:
            continue
        if scheme == "byte_level":
            try:
                surfaces[idx] = bytes(alphabet[ch] for ch in token)
            except KeyError:  # a token outside the byte alphabet (hand-added to the vocab): its literal text
                surfaces[idx] = token.encode("utf-8")
        elif scheme == "sentencepiece":
            match = _BYTE_TOKEN.match(token)
            if match:
                surfaces[idx] = bytes([int(match.group(1), 16)])
                fallback.add(idx)
            else:
                surfaces[idx] = token.replace("▁", " ").encode("utf-8")
        else:
            surfaces[idx] = backend.decoder.decode([token]).encode("utf-8")
    return Vocabulary(tuple(surfaces), frozenset(special), frozenset(fallback), scheme)
