"""Auxiliary embeddings of token strings (mean-pooled, L2-normalised sentence-encoder outputs), cached on disk.

The old vocabulary's matrix is the same for every transplant from a given model, so it is stored once under
``hf_tokens.assets.cache_root() / "tokenadapt"``, keyed by the encoder name and a hash of the exact strings.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    from hf_tokens.assets import cache_root

    return cache_root() / "tokenadapt"


def strings_key(encoder_name: str, strings: Sequence[str]) -> str:
    h = hashlib.sha256(encoder_name.encode())
    for s in strings:
        h.update(b"\x00" + s.encode("utf-8", errors="surrogatepass"))
    return f"{encoder_name}-{len(strings)}-{h.hexdigest()[:24]}"


class AuxEncoder:
    """Embeds short strings with a sentence encoder: ``embed(strings) -> [n, d]`` unit vectors (float32)."""

    def __init__(self, name: str, model: Any, tokenizer: Any, *, batch_size: int = 256, cache: bool = True) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.cache = cache

    @classmethod
    def load(cls, name: str, *, batch_size: int = 256, cache: bool = True) -> AuxEncoder:
        """Load a bundled encoder (``AssetNotInstalledError`` with the install command when it is missing)."""
        from hf_tokens.assets import load_encoder

        model, tokenizer = load_encoder(name)
        return cls(name, model, tokenizer, batch_size=batch_size, cache=cache)

    def embed(self, strings: Sequence[str], *, desc: str = "strings") -> torch.Tensor:
        strings = list(strings)
        path = cache_dir() / f"{strings_key(self.name, strings)}.pt"
        if self.cache and path.is_file():
            try:
                cached = torch.load(path, map_location="cpu", weights_only=True)
                if isinstance(cached, torch.Tensor) and cached.shape[0] == len(strings):
                    return cached.float()
            except (OSError, RuntimeError, EOFError):
                logger.warning("hf_tokens: unreadable embedding cache %s; recomputing", path)
        out = self._encode(strings, desc=desc)
        if self.cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            try:
                torch.save(out.half(), tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            out = out.half().float()  # the same values whether they come from the cache or not
        return out

    @torch.no_grad()
    def _encode(self, strings: list[str], *, desc: str) -> torch.Tensor:
        from tqdm.auto import tqdm

        if not strings:
            return torch.zeros(0, self.model.config.hidden_size)
        ids = self.tokenizer(strings, add_special_tokens=True, truncation=True, max_length=32)["input_ids"]
        order = sorted(range(len(strings)), key=lambda i: len(ids[i]))  # similar lengths share a batch: less padding
        out = torch.empty(len(strings), self.model.config.hidden_size)
        bar = tqdm(
            total=len(strings), desc=f"TokenAdapt: embedding {desc}", disable=len(strings) < 4 * self.batch_size
        )
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = self.tokenizer.pad({"input_ids": [ids[i] for i in chunk]}, return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[torch.tensor(chunk)] = torch.nn.functional.normalize(pooled.float(), dim=-1)
            bar.update(len(chunk))
        bar.close()
        return out
