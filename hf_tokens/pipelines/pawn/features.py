"""PAWN's per-token inputs, computed once per text by :func:`hf_tokens.analysis.token_stats` and cached on disk.

Per scored position ``t`` (the distribution after tokens ``<= t``, scored against token ``t + 1``):

- ``features [T, 5]``: the next-token-distribution metrics PAWN weights: ``log p(observed token)``, the largest
  log-probability of the distribution (``log p`` of its top-1 token), the entropy (nats), the standard deviation
  ``sigma`` of ``log p`` under the distribution itself, and the observed token's standardised log-probability
  ``(log p + entropy) / sigma`` (Fast-DetectGPT's per-token term: the entropy is minus the distribution's mean
  ``log p``); all come from one ``token_stats`` call, chunked over the vocabulary (no ``[T, V]`` logits held).
  The last two were added (version 2) after trials on ``benchmarks/pawn.py``'s validation split: best validation
  loss 0.60 with all five vs 0.62 with the first three (mean of 3 seeds, no hidden-state dropout);
- ``hidden [T, H]``: the LM's last hidden states (the LM head's input) at the same positions;
- ``positions [T]``: 0-based index of the position among the text's tokens (what PAWN's weights see besides the
  hidden state).

Only scored positions are kept, so a cached text is independent of the padding it was computed with.
:func:`cache_features` writes one safetensors file per text (through :meth:`TokenStats.save`'s atomic writer) and
:func:`load_features` reads it back; training reads these files and never runs the LM again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from hf_tokens.analysis.token_stats import token_stats
from hf_tokens.analysis.token_stats_result import TokenStats, write_safetensors

FEATURE_NAMES = ("logp", "max_logp", "entropy", "logp_std", "logp_z")
FORMAT = "hf_tokens.pawn_features"
VERSION = "2"  # 1: the first three metrics only


@dataclass
class TextFeatures:
    """PAWN's inputs of one text (scored positions only)."""

    features: torch.Tensor  # [T, F] float32
    hidden: torch.Tensor  # [T, H] float32
    positions: torch.Tensor  # [T] int64

    def __len__(self) -> int:
        return int(self.features.shape[0])


def from_stats(stats: TokenStats) -> list[TextFeatures]:
    """Split a batch's :class:`TokenStats` (with ``logp_std``, ``topk >= 1`` and ``hidden_states``) per text."""
    if stats.logp_std is None or stats.topk_logp is None or stats.hidden_states is None:
        raise ValueError("PAWN features need token_stats(..., logp_std=True, topk=1, hidden_states=True)")
    logp, entropy, sigma = stats.logp.float(), stats.entropy.float(), stats.logp_std.float()
    z = (logp + entropy) / sigma.clamp_min(1e-6)
    feats = torch.stack([logp, stats.topk_logp[..., 0].float(), entropy, sigma, z], -1)
    pos = (stats.attention_mask.cumsum(1) - 1).clamp_min(0)
    out = []
    for i in range(len(stats)):
        m = stats.mask[i]
        out.append(TextFeatures(feats[i][m].cpu(), stats.hidden_states[i][m].float().cpu(), pos[i][m].cpu()))
    return out


def compute_features(
    model: Any,
    tokenizer: Any = None,
    texts: Sequence[str] | None = None,
    *,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    batch_size: int | None = None,
) -> list[TextFeatures]:
    """PAWN's inputs of every text (one LM forward per batch)."""
    stats = token_stats(
        model, tokenizer, texts, input_ids=input_ids, attention_mask=attention_mask, logp_std=True, topk=1,
        hidden_states=True, batch_size=batch_size,
    )  # fmt: skip
    return from_stats(stats)


def _key(model_name: str, text: str) -> str:
    return hashlib.sha256(f"{model_name}\0{VERSION}\0{text}".encode()).hexdigest()[:24]


def save_features(path: str | os.PathLike[str], f: TextFeatures, model_name: str) -> Path:
    meta = {FORMAT: VERSION, "model": model_name, "features": ",".join(FEATURE_NAMES)}
    tensors = {"features": f.features.contiguous(), "hidden": f.hidden.contiguous(), "positions": f.positions}
    return write_safetensors(path, tensors, meta)


def load_features(path: str | os.PathLike[str]) -> TextFeatures:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as fh:
        version = (fh.metadata() or {}).get(FORMAT)
        if version != VERSION:
            raise ValueError(
                f"{path} is not a PAWN feature file of version {VERSION} ({FORMAT!r} header: {version!r}); "
                "recompute it with cache_features"
            )
        return TextFeatures(fh.get_tensor("features"), fh.get_tensor("hidden"), fh.get_tensor("positions"))


def cache_features(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    folder: str | os.PathLike[str],
    *,
    batch_size: int = 8,
) -> list[Path]:
    """One safetensors file per text under ``folder`` (named by a hash of model and text); texts already cached
    are not recomputed. Returns the files in the order of ``texts``."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    name = str(getattr(model, "name_or_path", "") or type(model).__name__)
    folder = Path(folder)
    paths = [folder / f"{_key(name, t)}.safetensors" for t in texts]
    todo = [i for i, p in enumerate(paths) if not p.exists()]
    for b in range(0, len(todo), batch_size):
        idx = todo[b : b + batch_size]
        for i, f in zip(idx, compute_features(model, tokenizer, [texts[i] for i in idx])):
            save_features(paths[i], f, name)
    return paths
