"""Cross-vocabulary ensembles: combine byte-level LMs whose tokenizers differ (Phan et al., arXiv 2410.09303, Sec. 5).

Once every member speaks bytes, their next-byte distributions live on the same 257 outcomes and can be combined:
``mode="product"`` takes the normalised weighted geometric mean ``prod_k p_k^{w_k} / Z`` (the paper's ensembles
average log-probabilities), ``mode="mixture"`` the arithmetic mean ``sum_k w_k p_k``. Weights are normalised to sum
to one, so an ensemble of a model with itself equals the model in both modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hf_tokens.generation.byte_level.lm import ByteLevelLM

MODES = ("product", "mixture")


@dataclass
class EnsembleState:
    states: tuple[Any, ...]

    @property
    def stream(self) -> bytes:
        return self.states[0].stream


class ByteLevelEnsemble:
    """Several :class:`ByteLevelLM` (any tokenizers) as one byte-level LM with the same API."""

    def __init__(
        self, members: Sequence[ByteLevelLM], *, weights: Sequence[float] | None = None, mode: str = "product"
    ):
        members = list(members)
        if len(members) < 1 or not all(isinstance(m, (ByteLevelLM, ByteLevelEnsemble)) for m in members):
            raise TypeError("members must be a non-empty sequence of ByteLevelLM")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        w = np.ones(len(members)) if weights is None else np.asarray(list(weights), dtype=np.float64)
        if w.shape != (len(members),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                f"weights must be {len(members)} finite non-negative numbers with a positive sum, got {weights}"
            )
        self.members = members
        self.weights = torch.from_numpy(w / w.sum())
        self.mode = mode
        # generation writes token ids with the first member's tokenizer
        self.vocab = members[0].vocab
        self.start_ids = members[0].start_ids

    def start(self, prefix: bytes | str = b"", *, start_ids: tuple[int, ...] | None = None) -> EnsembleState:
        first = self.members[0].start(prefix, start_ids=start_ids)
        return EnsembleState((first, *(m.start(prefix) for m in self.members[1:])))

    def start_stream(self, stream: bytes, *, start_ids: tuple[int, ...] | None = None) -> EnsembleState:
        """Start from the first member's stream bytes (its start ids); other members read the same user text."""
        first = self.members[0].start_stream(stream, start_ids=start_ids)
        text = stream[len(self.vocab.dummy_prefix) :]
        return EnsembleState((first, *(m.start(text) for m in self.members[1:])))

    def advance(self, state: EnsembleState, byte: int) -> EnsembleState:
        return EnsembleState(tuple(m.advance(s, byte) for m, s in zip(self.members, state.states)))

    def distribution(self, state: EnsembleState) -> torch.Tensor:
        return self.combine([m.distribution(s) for m, s in zip(self.members, state.states)])

    def combine(self, distributions: Sequence[torch.Tensor]) -> torch.Tensor:
        """The ensemble of the members' next-byte distributions (one 257-vector per member, in order)."""
        dists = torch.stack(list(distributions))
        if self.mode == "mixture":
            return (self.weights[:, None] * dists).sum(0)
        logs = torch.where(dists > 0, dists.log(), torch.full_like(dists, float("-inf")))
        w = self.weights[:, None].expand_as(logs)
        combined = torch.where(w > 0, w * logs, torch.zeros_like(logs)).sum(0)
        if not torch.isfinite(combined).any():
            raise ValueError("the members give disjoint supports; a product ensemble is undefined here")
        return torch.softmax(combined, dim=0)

    def next_byte_distribution(self, prefix_bytes: bytes | str = b"") -> torch.Tensor:
        return self.distribution(self.start(prefix_bytes))

    def log_prob(self, text: bytes | str, *, context: bytes | str = b"", end: bool = False) -> float:
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        state = self.start(context)
        total = 0.0
        for b in data:
            p = float(self.distribution(state)[b])
            if p <= 0:
                return float("-inf")
            total += float(np.log(p))
            state = self.advance(state, b)
        if end:
            total += float(np.log(float(self.distribution(state)[256])))
        return total
