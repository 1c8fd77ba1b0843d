""":class:`TokenStats`: the typed result of :func:`hf_tokens.analysis.token_stats`, cached on disk as safetensors.

Layout: every per-position field is ``[B, T]`` (``topk_*`` ``[B, T, k]``, ``hidden_states`` ``[B, T, H]``) and
aligned with ``input_ids``: position ``t`` holds the statistics of the distribution the model predicts after reading
tokens ``<= t``, scored against ``target_ids[:, t]`` (the next token). ``mask[:, t]`` says whether position ``t`` was
scored; elsewhere the float fields hold 0, ``rank`` 0 and ``target_ids`` ``IGNORE`` (-100). The helpers below only
select and reduce fields; the statistics themselves are computed once, by ``token_stats``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

FORMAT = "hf_tokens.token_stats"
FORMAT_VERSION = 1
IGNORE = -100
TENSOR_FIELDS = (
    "input_ids",
    "attention_mask",
    "target_ids",
    "mask",
    "logp",
    "entropy",
    "logp_std",
    "rank",
    "topk_ids",
    "topk_logp",
    "cross_logp_mean",
    "cross_logp_std",
    "hidden_states",
)


def write_safetensors(
    path: str | os.PathLike[str], tensors: dict[str, torch.Tensor], metadata: dict[str, str]
) -> Path:
    """Write ``tensors`` to ``path`` atomically (a temporary file in the same folder, renamed)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@dataclass
class TokenStats:
    """Per-token statistics of a causal LM on a batch (see the module docstring for the layout).

    Attributes:
        input_ids: ``[B, T]`` int64, the batch as fed to the model (padding included).
        attention_mask: ``[B, T]`` int64, 1 for real tokens.
        target_ids: ``[B, T]`` int64, the observed next token scored at each position, ``-100`` where not scored.
        mask: ``[B, T]`` bool, positions that were scored.
        logp: ``[B, T]`` float32, ``log p(target)``.
        entropy: ``[B, T]`` float32, entropy (nats) of the predicted distribution, or None.
        logp_std: ``[B, T]`` float32, ``sigma = sqrt(E_p[(log p)^2] - mu^2)`` with ``mu = E_p[log p] = -entropy``
            (the normalisation of Min-K%++), or None.
        rank: ``[B, T]`` int64, 1-based rank of the target among all tokens (1 = argmax), or None.
        topk_ids, topk_logp: ``[B, T, k]`` most likely token ids and their log-probs, best first, or None.
        cross_logp_mean, cross_logp_std: ``[B, T]`` float32, mean and std of ``log p(z)`` for ``z`` drawn from a
            reference model's distribution (``-cross_logp_mean`` is Binoculars' per-token cross-entropy), or None.
        hidden_states: ``[B, T, H]`` the last hidden states (the LM head's input, model dtype; padding positions
            hold whatever the model computed there), or None.
        metadata: model, tokenizer and options (JSON-serialisable); saved in the safetensors header.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    target_ids: torch.Tensor
    mask: torch.Tensor
    logp: torch.Tensor
    entropy: torch.Tensor | None = None
    logp_std: torch.Tensor | None = None
    rank: torch.Tensor | None = None
    topk_ids: torch.Tensor | None = None
    topk_logp: torch.Tensor | None = None
    cross_logp_mean: torch.Tensor | None = None
    cross_logp_std: torch.Tensor | None = None
    hidden_states: torch.Tensor | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def _field(self, name: str) -> torch.Tensor:
        if name not in TENSOR_FIELDS:
            raise ValueError(f"unknown field {name!r}; fields: {', '.join(TENSOR_FIELDS)}")
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{name} was not computed; ask token_stats for it (see its options)")
        return value

    def tensors(self) -> dict[str, torch.Tensor]:
        """The tensor fields that were computed, by name."""
        return {k: getattr(self, k) for k in TENSOR_FIELDS if getattr(self, k) is not None}

    # ------------------------------------------------------------------------------------------ derived views
    @property
    def num_scored(self) -> torch.Tensor:
        """``[B]`` int64: scored positions per row."""
        return self.mask.sum(1)

    @property
    def logp_mean(self) -> torch.Tensor:
        """``mu = E_{z~p}[log p(z)]``, which is ``-entropy`` (not stored twice)."""
        return -self._field("entropy")

    @property
    def normalized_logp(self) -> torch.Tensor:
        """``(logp - mu) / sigma`` per position (Min-K%++'s token score), 0 where not scored."""
        sigma = self._field("logp_std").clamp_min(torch.finfo(torch.float32).tiny)
        return torch.where(self.mask, (self.logp - self.logp_mean) / sigma, torch.zeros_like(self.logp))

    @property
    def topk_probs(self) -> torch.Tensor:
        """``exp(topk_logp)``."""
        return self._field("topk_logp").exp()

    def values(self, name: str, row: int) -> torch.Tensor:
        """The scored values of field ``name`` (or a ``[B, T]`` property such as ``normalized_logp``) in ``row``."""
        x = getattr(self, name) if name in ("normalized_logp", "logp_mean") else self._field(name)
        return x[row][self.mask[row]]

    def nll(self) -> torch.Tensor:
        """``[B]`` float32: summed negative log-likelihood of the scored tokens (the continuation NLL when
        ``continuation_start`` was given)."""
        return -(self.logp * self.mask).sum(1)

    def mean(self, name: str = "logp") -> torch.Tensor:
        """``[B]`` float32: per-row mean of a ``[B, T]`` field or property over the scored positions."""
        x = getattr(self, name) if name in ("normalized_logp", "logp_mean") else self._field(name)
        if x.shape != self.mask.shape:
            raise ValueError(f"mean() reduces [B, T] fields; {name} has shape {tuple(x.shape)}")
        return (x.float() * self.mask).sum(1) / self.num_scored.clamp_min(1)

    def row(self, i: int) -> TokenStats:
        """Row ``i`` alone, padding columns removed (shape ``[1, n_i]``)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"row {i} out of range for {len(self)} rows")
        keep = self.attention_mask[i].bool()
        cut = {k: v[i : i + 1][:, keep] for k, v in self.tensors().items()}
        return TokenStats(**cut, metadata=dict(self.metadata))  # type: ignore[arg-type]

    def to(self, device: torch.device | str) -> TokenStats:
        moved: dict[str, Any] = {k: v.to(device) for k, v in self.tensors().items()}
        return dataclasses.replace(self, **moved)

    # ------------------------------------------------------------------------------------------------ disk
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a ``.safetensors`` file (tensors + a JSON metadata header); atomic (a temporary file renamed)."""
        path = Path(path)
        header = {"format": FORMAT, "version": FORMAT_VERSION, "metadata": self.metadata}
        try:
            text = json.dumps(header)
        except TypeError as exc:
            raise TypeError(f"TokenStats.metadata must be JSON-serialisable: {exc}") from exc
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.tensors().items()}
        return write_safetensors(path, tensors, {FORMAT: text})

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: torch.device | str = "cpu") -> TokenStats:
        """Read a file written by :meth:`save`."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device=str(device)) as fh:
            raw = (fh.metadata() or {}).get(FORMAT)
            if raw is None:
                raise ValueError(f"{path} is not a TokenStats file (no {FORMAT!r} header)")
            header = json.loads(raw)
            if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
                raise ValueError(
                    f"{path}: unsupported TokenStats format {header.get('format')} v{header.get('version')}"
                )
            names = fh.keys()
            tensors = {k: fh.get_tensor(k) for k in names if k in TENSOR_FIELDS}
        missing = [k for k in TENSOR_FIELDS[:5] if k not in tensors]
        if missing:
            raise ValueError(f"{path}: TokenStats file lacks {missing}")
        return cls(**tensors, metadata=header.get("metadata", {}))
