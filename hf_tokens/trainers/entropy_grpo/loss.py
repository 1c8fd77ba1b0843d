"""Pure tensor functions of entropy-aware policy-gradient RL (no trainer state, no TRL import).

Two papers:

* ``high-entropy-minority`` — Wang et al., "Beyond the 80/20 Rule: High-Entropy Minority Tokens Drive Effective
  Reinforcement Learning for LLM Reasoning" (arXiv 2506.01939): keep the policy gradient only on the top-ρ fraction
  (ρ = 0.2) of the batch's tokens by entropy; the ablation trains on the complement (the bottom 1-ρ).
  :func:`entropy_quantile_mask`.
* ``entropy-mechanism`` — Cui et al., "The Entropy Mechanism of Reinforcement Learning for Reasoning Language
  Models" (arXiv 2505.22617): entropy falls with the covariance between a token's log-probability and its advantage.
  :func:`token_covariance` is the centred per-token term ``(A_i - mean A) * (log p_i - mean log p)``, the means
  taken over every valid token of the batch. Clip-Cov (:func:`clip_cov_mask`) detaches the gradient of a random
  ``ratio`` fraction of the tokens whose covariance lies strictly between ``low`` and ``high``; KL-Cov
  (:func:`kl_cov_mask`, :func:`kl_cov_penalty`) adds ``coef * |log p - log p_old|`` on the top ``ratio`` fraction by
  covariance. The number of selected tokens is ``max(1, int(ratio * N))`` as in the authors' code.

Batch-wide statistics (the entropy quantile, the covariance means, the top-k and the random pick) are taken over
the whole batch across processes: every function takes a :class:`ProcessGroup` whose ``all_gather`` returns the
per-rank tensors in rank order. :class:`LocalGroup` is the single-process case; the trainer passes an
accelerate-backed group. Every rank sees the same gathered values and draws from an identically seeded generator,
so the selection is the one a single process would make over the concatenated batch (tested by splitting a batch
in two). The authors' verl code computes these per device, on each GPU's micro-batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor


class ProcessGroup(Protocol):
    """What the functions below need from a process group."""

    rank: int

    def all_gather(self, tensor: Tensor) -> list[Tensor]:
        """The 1-D ``tensor`` of every rank (lengths may differ), in rank order, on every rank."""
        ...


@dataclass
class LocalGroup:
    """The single-process group: ``all_gather(t) == [t]``."""

    rank: int = 0

    def all_gather(self, tensor: Tensor) -> list[Tensor]:
        return [tensor]


def _check(name: str, tensor: Tensor, shape: torch.Size | None = None) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if shape is not None and tensor.shape != shape:
        raise ValueError(
            f"{name} must have shape {tuple(shape)} (like the completion mask), got {tuple(tensor.shape)}"
        )


def _ratio(name: str, value: float) -> None:
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"{name} must be in (0, 1], got {value}")


def _gather_valid(values: Tensor, mask: Tensor, group: ProcessGroup) -> tuple[Tensor, int]:
    """Concatenation over ranks of ``values[mask]`` (float32) and the offset of this rank's entries in it."""
    local = values[mask].detach().float()
    parts = group.all_gather(local)
    offset = sum(int(p.numel()) for p in parts[: group.rank])
    return torch.cat([p.to(local.device) for p in parts]), offset


def _scatter_selected(selected_global: Tensor, offset: int, mask: Tensor) -> Tensor:
    """Turn a boolean over the gathered valid tokens into this rank's ``[B, T]`` boolean mask."""
    n_local = int(mask.sum())
    local = selected_global[offset : offset + n_local]
    out = torch.zeros_like(mask)
    out[mask] = local
    return out


def entropy_quantile_mask(
    entropies: Tensor,
    mask: Tensor,
    ratio: float,
    *,
    complement: bool = False,
    group: ProcessGroup | None = None,
) -> Tensor:
    """Boolean ``[B, T]`` mask of the tokens whose entropy is in the top ``ratio`` fraction of the whole batch.

    The threshold is ``torch.quantile(valid entropies of all ranks, 1 - ratio)`` and a token is kept when its entropy
    is ``>=`` the threshold, exactly like TRL's ``GRPOTrainer.get_high_entropy_mask``. With ``complement=True`` the
    mask is the other valid tokens (the paper's "bottom 80%" ablation for ``ratio=0.2``). Padding is never selected.
    """
    _check("entropies", entropies)
    _check("mask", mask, entropies.shape)
    _ratio("ratio", ratio)
    mask = mask.bool()
    gathered, _ = _gather_valid(entropies, mask, group or LocalGroup())
    if gathered.numel() == 0:
        return torch.zeros_like(mask)
    threshold = torch.quantile(gathered, 1.0 - float(ratio))
    top = (entropies.detach().float() >= threshold) & mask
    return (mask & ~top) if complement else top


def token_covariance(logps: Tensor, advantages: Tensor, mask: Tensor, *, group: ProcessGroup | None = None) -> Tensor:
    """Per-token centred covariance ``(A_i - mean A) * (log p_i - mean log p)``; zero on padding.

    ``advantages`` is ``[B]``, ``[B, 1]`` or ``[B, T]`` (broadcast over the tokens of each sequence). Both means are
    over every valid token of the batch on all ranks (token-weighted, as in the paper's code). Detached.
    """
    _check("logps", logps)
    _check("mask", mask, logps.shape)
    _check("advantages", advantages)
    mask = mask.bool()
    adv = advantages.detach().float()
    if adv.dim() == 1:
        adv = adv.unsqueeze(1)
    adv = adv.expand_as(logps)
    lp = logps.detach().float()
    group = group or LocalGroup()
    stats = torch.stack([lp[mask].sum(), adv[mask].sum(), mask.sum().float()])
    totals = torch.stack([s.to(stats.device) for s in group.all_gather(stats)]).sum(0)
    count = totals[2].clamp(min=1.0)
    cov = (adv - totals[1] / count) * (lp - totals[0] / count)
    return cov.masked_fill(~mask, 0.0)


def _num_selected(ratio: float, n_valid: int) -> int:
    """``max(1, int(ratio * n_valid))`` as in the authors' code (0 when there is no valid token)."""
    return 0 if n_valid == 0 else max(1, int(float(ratio) * n_valid))


def clip_cov_mask(
    cov: Tensor,
    mask: Tensor,
    *,
    ratio: float = 2e-4,
    low: float = 1.0,
    high: float = 5.0,
    generator: torch.Generator | None = None,
    exclude: Tensor | None = None,
    group: ProcessGroup | None = None,
) -> Tensor:
    """Clip-Cov: boolean ``[B, T]`` mask of the tokens whose policy gradient is detached.

    Candidates are valid tokens with ``low < cov < high`` that are not in ``exclude`` (the authors exclude tokens
    the PPO clip already removes from the gradient). ``max(1, int(ratio * N))`` of them (N = valid tokens of the
    whole batch) are drawn uniformly without replacement with ``generator`` (on CPU; seed it identically on every
    rank).
    """
    _check("cov", cov)
    _check("mask", mask, cov.shape)
    _ratio("ratio", ratio)
    if not low < high:
        raise ValueError(f"low must be < high, got low={low}, high={high}")
    mask = mask.bool()
    group = group or LocalGroup()
    candidate = mask & (cov > low) & (cov < high)
    if exclude is not None:
        _check("exclude", exclude)
        candidate = candidate & ~exclude.bool().expand_as(mask)
    gathered, offset = _gather_valid(candidate.float(), mask, group)
    k = _num_selected(ratio, gathered.numel())
    where = torch.nonzero(gathered > 0.5).flatten().cpu()
    selected = torch.zeros(gathered.numel(), dtype=torch.bool)
    if where.numel() > 0 and k > 0:
        pick = torch.randperm(where.numel(), generator=generator)[: min(k, where.numel())]
        selected[where[pick]] = True
    return _scatter_selected(selected.to(mask.device), offset, mask)


def kl_cov_mask(cov: Tensor, mask: Tensor, *, ratio: float = 2e-4, group: ProcessGroup | None = None) -> Tensor:
    """KL-Cov: boolean ``[B, T]`` mask of the ``max(1, int(ratio * N))`` valid tokens with the largest covariance
    over the whole batch (N = valid tokens on all ranks). Ties at the boundary go to the lower global index."""
    _check("cov", cov)
    _check("mask", mask, cov.shape)
    _ratio("ratio", ratio)
    mask = mask.bool()
    gathered, offset = _gather_valid(cov, mask, group or LocalGroup())
    k = _num_selected(ratio, gathered.numel())
    selected = torch.zeros(gathered.numel(), dtype=torch.bool, device=gathered.device)
    if k > 0:
        # stable sort: equal covariances keep their global order, so every rank makes the same choice
        order = torch.sort(gathered.cpu(), descending=True, stable=True).indices[:k]
        selected[order.to(gathered.device)] = True
    return _scatter_selected(selected, offset, mask)


def kl_cov_penalty(logps: Tensor, old_logps: Tensor, selected: Tensor, coef: float = 1.0) -> Tensor:
    """Per-token KL-Cov term ``coef * |log p - log p_old|`` on ``selected`` tokens, zero elsewhere (differentiable in
    ``logps``). On-policy (``old_logps == logps.detach()``) it is zero with zero gradient: KL-Cov needs
    ``num_iterations > 1`` (or several optimiser steps per generation)."""
    _check("logps", logps)
    _check("old_logps", old_logps, logps.shape)
    _check("selected", selected, logps.shape)
    if coef < 0:
        raise ValueError(f"coef must be >= 0, got {coef}")
    return coef * (logps - old_logps).abs() * selected.to(logps.dtype)


def ppo_clipped(
    logps: Tensor, old_logps: Tensor, advantages: Tensor, epsilon_low: float, epsilon_high: float
) -> Tensor:
    """Tokens whose clipped PPO branch is active (``-A * clip(r) > -A * r``), i.e. whose gradient PPO already zeroes.

    The authors' Clip-Cov excludes them from its candidates."""
    ratio = torch.exp(logps.detach().float() - old_logps.detach().float())
    adv = advantages.detach().float()
    if adv.dim() == 1:
        adv = adv.unsqueeze(1)
    clipped = torch.clamp(ratio, 1.0 - epsilon_low, 1.0 + epsilon_high)
    return (-adv * clipped) > (-adv * ratio)


def aggregate_token_loss(
    per_token: Tensor,
    mask: Tensor,
    loss_type: str,
    *,
    max_completion_length: int | None = None,
    num_items: float | None = None,
) -> Tensor:
    """Reduce a per-token loss to a scalar the way TRL's ``GRPOTrainer`` reduces its policy loss for ``loss_type``
    (before the gradient-accumulation scaling): ``grpo``/``sapo`` mean over each sequence then over sequences,
    ``bnpo`` mean over tokens, ``dr_grpo`` sum / (B * max_completion_length), ``dapo``/``cispo``/``vespo`` sum /
    ``num_items``, ``luspo`` per-sequence sum then mean. Used to add the KL-Cov term with the policy loss's
    normalisation."""
    m = mask.to(per_token.dtype)
    if loss_type in ("grpo", "sapo"):
        return ((per_token * m).sum(-1) / m.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return (per_token * m).sum() / m.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":
        if max_completion_length is None:
            raise ValueError("loss_type='dr_grpo' needs max_completion_length")
        return (per_token * m).sum() / (per_token.size(0) * max_completion_length)
    if loss_type in ("dapo", "cispo", "vespo"):
        if num_items is None:
            raise ValueError(f"loss_type={loss_type!r} needs num_items")
        return (per_token * m).sum() / num_items
    if loss_type == "luspo":
        return (per_token * m).sum(-1).mean()
    raise ValueError(
        f"loss_type must be one of grpo, sapo, bnpo, dr_grpo, dapo, cispo, vespo, luspo; got {loss_type!r}"
    )
