"""Forward-only softmax statistics of ``hidden @ weight.T`` beyond ``log p`` and entropy, chunked over the vocabulary.

:func:`linear_softmax_summary` extends the reference path of Cut Cross-Entropy (``reference.py``) with what
detection and analysis methods read from a next-token distribution ``p = softmax(z)``, ``z`` as in ``reference.py``
(``softcap * tanh((hidden @ weight.T + bias) / softcap) / temperature``), per token:

* ``lse`` (log-sum-exp of ``z``) and ``logp = log p(target)``;
* ``entropy = -E_{j~p}[log p_j]`` and ``logp_var = Var_{j~p}[log p_j] = E_p[(log p)^2] - E_p[log p]^2`` (the
  normalisation of Min-K%++, the variance term of Fast-DetectGPT and of the zero-shot entropy test);
* ``rank`` of the target: ``1 + #{j : z_j > z_target}`` (1 = the argmax; tied tokens share the better rank);
* the ``topk`` token ids and their log-probabilities;
* with a second head (``ref_hidden``, ``ref_weight``: a reference distribution ``q = softmax(z_q)`` over the same
  vocabulary), ``cross_mean = E_{j~q}[log p_j]`` and ``cross_var = Var_{j~q}[log p_j]`` (Binoculars'
  cross-perplexity is ``-cross_mean``; Fast-DetectGPT with a separate sampling model uses both).

Everything comes from one pass over ``[token chunk x vocabulary chunk]`` blocks of logits with online (running-max)
sums, so memory is ``O(chunk_tokens x chunk_vocab)`` for the blocks plus ``O(tokens x topk)`` for the outputs, never
``O(tokens x vocab)``. With running max ``m`` and ``e_j = exp(z_j - m)``, the sums are ``s = sum e``,
``u1 = sum e (z - m)``, ``u2 = sum e (z - m)^2``; moving the max to ``m'`` (``d = m - m'``) rescales them by
``exp(d)`` and shifts ``(z - m) -> (z - m) + d``. Then ``log p_j = (z_j - m) - log s``, ``entropy = log s - u1/s``
and ``logp_var = u2/s - (u1/s)^2``. The cross sums weight ``(z - c)`` and ``(z - c)^2`` by ``exp(z_q - m_q)``, with
``q``'s own running max ``m_q`` and ``c`` the logit of ``p`` at ``q``'s running argmax (moved the same way), so a
peaked ``q`` far in ``p``'s tail does not lose its small variance to cancellation. Per-row accumulators are float64,
blocks float32 (``reference._block_logits``).

No autograd: these are features, not losses (use :func:`~hf_tokens.ops.linear_cross_entropy.linear_log_probs` /
``linear_entropy`` for differentiable log-probs and entropies). The target logit used for ``logp`` and ``rank`` is
read from the logit block itself, so the rank of the observed token is consistent with ``topk`` (the separate
indexed dot product of ``reference.py`` decides only comparisons made before the target's block is reached, which
can differ from the block value in the last bit: a genuine tie within float rounding may count either way).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from hf_tokens.ops.linear_cross_entropy import reference
from hf_tokens.ops.linear_cross_entropy.api import _check_common, _check_ids


class SoftmaxSummary(NamedTuple):
    """Per-token statistics (leading shape = ``hidden.shape[:-1]``); a field not requested is ``None``."""

    lse: torch.Tensor
    logp: torch.Tensor | None
    entropy: torch.Tensor | None
    logp_var: torch.Tensor | None
    rank: torch.Tensor | None
    topk_ids: torch.Tensor | None
    topk_logp: torch.Tensor | None
    cross_mean: torch.Tensor | None
    cross_var: torch.Tensor | None


class _Online:
    """Running sums over the vocabulary blocks of one token chunk (see the module docstring)."""

    def __init__(self, rows: int, device: torch.device, *, moments: int, rank: bool, topk: int, cross: bool) -> None:
        self.moments, self.want_rank, self.topk, self.cross = moments, rank, topk, cross
        self.m = torch.full((rows,), -math.inf, dtype=torch.float32, device=device)
        self.s, self.u1, self.u2 = (torch.zeros(rows, dtype=torch.float64, device=device) for _ in range(3))
        self.count = torch.zeros(rows, dtype=torch.int64, device=device)
        self.z_target = torch.zeros(rows, dtype=torch.float32, device=device)
        self.top_z = torch.full((rows, topk), -math.inf, dtype=torch.float32, device=device)
        self.top_i = torch.zeros(rows, topk, dtype=torch.int64, device=device)
        self.mq = torch.full((rows,), -math.inf, dtype=torch.float32, device=device)
        self.c = torch.zeros(rows, dtype=torch.float32, device=device)
        self.sq, self.a1, self.a2 = (torch.zeros(rows, dtype=torch.float64, device=device) for _ in range(3))

    def targets(self, z: torch.Tensor, v0: int, targets: torch.Tensor, dot: torch.Tensor | None) -> None:
        """Target logit from the block where it lies; rank counts against it (against ``dot`` elsewhere)."""
        local = targets - v0
        inside = (local >= 0) & (local < z.shape[1])
        from_block = z.gather(1, local.clamp(0, z.shape[1] - 1)[:, None]).squeeze(1)
        self.z_target = torch.where(inside, from_block, self.z_target)
        if dot is not None:
            threshold = torch.where(inside, from_block, dot)
            self.count += (z > threshold[:, None]).sum(1)

    def top(self, z: torch.Tensor, v0: int) -> None:
        vals, idx = z.topk(min(self.topk, z.shape[1]), dim=1)
        vals, pick = torch.cat([self.top_z, vals], 1).topk(self.topk, dim=1)
        self.top_i = torch.cat([self.top_i, idx + v0], 1).gather(1, pick)
        self.top_z = vals

    def add(self, z: torch.Tensor, zq: torch.Tensor | None) -> None:
        """Fold one block of logits (consumed in place) into the sums."""
        if zq is not None:
            self._cross(z, zq)
        m_new = torch.maximum(self.m, z.amax(1))
        delta = self.m - m_new  # <= 0; -inf on the first block, where every sum is still 0
        d = torch.nan_to_num(delta, neginf=0.0).double()
        scale = torch.exp(delta).double()
        if self.moments > 1:
            self.u2 = scale * (self.u2 + 2 * d * self.u1 + d * d * self.s)
        if self.moments > 0:
            self.u1 = scale * (self.u1 + d * self.s)
        self.s = scale * self.s
        zc = z.sub_(m_new[:, None])  # z - m'
        e = torch.exp(zc)
        self.s += e.sum(1)
        if self.moments > 0:
            e.mul_(zc)
            self.u1 += e.sum(1)
            if self.moments > 1:
                self.u2 += e.mul_(zc).sum(1)
        self.m = m_new

    def _cross(self, z: torch.Tensor, zq: torch.Tensor) -> None:
        """``q``-weighted sums of ``(z - c)`` and ``(z - c)^2``, centred on ``c`` = ``z`` at ``q``'s running argmax:
        where ``q`` is peaked, ``z - c`` is small where the weight is, so the variance does not cancel."""
        block_max, block_arg = zq.max(1)
        center = torch.where(block_max > self.mq, z.gather(1, block_arg[:, None]).squeeze(1), self.c)
        mq_new = torch.maximum(self.mq, block_max)
        scale_q = torch.exp(self.mq - mq_new).double()
        d = (self.c - center).double()
        self.sq, self.a1, self.a2 = scale_q * self.sq, scale_q * self.a1, scale_q * self.a2
        self.a2 = self.a2 + 2 * d * self.a1 + d * d * self.sq  # (z - c) -> (z - c'), weights unchanged
        self.a1 = self.a1 + d * self.sq
        eq = zq.sub_(mq_new[:, None]).exp_()
        zc = z - center[:, None]
        self.sq += eq.sum(1)
        eq.mul_(zc)
        self.a1 += eq.sum(1)
        self.a2 += eq.mul_(zc).sum(1)
        self.mq, self.c = mq_new, center

    def finish(self) -> dict[str, torch.Tensor]:
        log_s = torch.log(self.s)
        lse = self.m.double() + log_s
        out = {"lse": lse.float(), "logp": (self.z_target.double() - lse).float()}
        if self.moments > 0:
            mean = self.u1 / self.s
            out["entropy"] = (log_s - mean).float()
            if self.moments > 1:
                out["logp_var"] = (self.u2 / self.s - mean * mean).clamp_min(0).float()
        if self.want_rank:
            out["rank"] = self.count + 1
        if self.topk:
            out["topk_ids"], out["topk_logp"] = self.top_i, (self.top_z.double() - lse[:, None]).float()
        if self.cross:
            mean_q = self.a1 / self.sq
            out["cross_mean"] = (mean_q + self.c.double() - lse).float()
            out["cross_var"] = (self.a2 / self.sq - mean_q * mean_q).clamp_min(0).float()
        return out


def _check_options(topk: object, vocab: int, rank: bool, targets: object) -> None:
    if isinstance(topk, bool) or not isinstance(topk, int) or not 0 <= topk <= vocab:
        raise ValueError(f"topk must be an int in [0, vocab={vocab}] (0 = none), got {topk!r}")
    if rank and targets is None:
        raise ValueError("rank=True needs targets (the rank of which token?)")


@torch.no_grad()
def linear_softmax_summary(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor | None = None,
    *,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
    temperature: float = 1.0,
    entropy: bool = True,
    variance: bool = False,
    rank: bool = False,
    topk: int = 0,
    ref_hidden: torch.Tensor | None = None,
    ref_weight: torch.Tensor | None = None,
    ref_bias: torch.Tensor | None = None,
    ref_softcap: float | None = None,
    chunk_tokens: int | None = None,
    chunk_vocab: int | None = None,
) -> SoftmaxSummary:
    """Per-token statistics of ``softmax(z)`` (module docstring) in one chunked pass, without ``[N, V]`` logits.

    Args:
        hidden: ``[..., H]`` final hidden states; ``weight`` ``[V, H]`` (same dtype), optional ``bias`` ``[V]``.
        targets: integer ``hidden.shape[:-1]`` in ``[0, V)``: the observed tokens (``logp``, ``rank``); or None.
        softcap, temperature: the logit transform of ``reference.py`` (temperature divides after the softcap).
        entropy: compute ``entropy``; ``variance``: ``logp_var`` too (implies the entropy's sum).
        rank: the target's rank (needs ``targets``); ``topk``: that many most likely ids and log-probs (0 = none).
        ref_hidden, ref_weight, ref_bias, ref_softcap: a second head over the same vocabulary (same leading shape
            and ``V``; its own hidden size): the distribution ``q`` of ``cross_mean`` / ``cross_var``. The
            temperature applies to both.
        chunk_tokens, chunk_vocab: block shape (default about 4M float32 entries per block).

    Returns:
        :class:`SoftmaxSummary` of float32 tensors (``rank``, ``topk_ids`` int64), ``None`` where not requested.
        ``logp`` is ``None`` without targets.
    """
    _check_common(hidden, weight, bias, softcap, temperature)
    vocab = weight.shape[0]
    if targets is not None:
        _check_ids("targets", targets, hidden, vocab, None)
    _check_options(topk, vocab, rank, targets)
    cross = ref_hidden is not None or ref_weight is not None
    if cross:
        if ref_hidden is None or ref_weight is None:
            raise ValueError("a reference distribution needs both ref_hidden and ref_weight")
        _check_common(ref_hidden, ref_weight, ref_bias, ref_softcap, temperature)
        if ref_hidden.shape[:-1] != hidden.shape[:-1] or ref_weight.shape[0] != vocab:
            raise ValueError(
                f"ref_hidden must have hidden's leading shape {tuple(hidden.shape[:-1])} and ref_weight {vocab} rows "
                f"(the same vocabulary); got {tuple(ref_hidden.shape[:-1])} and {ref_weight.shape[0]}"
            )
        if ref_hidden.device != hidden.device:
            raise ValueError(f"ref_hidden ({ref_hidden.device}) must be on hidden's device ({hidden.device})")
    lead = hidden.shape[:-1]
    h = hidden.reshape(-1, hidden.shape[-1])
    n = h.shape[0]
    t = None if targets is None else targets.reshape(-1).long()
    hq = None if ref_hidden is None else ref_hidden.reshape(-1, ref_hidden.shape[-1])
    ct, cv = reference.chunk_sizes(n, vocab, chunk_tokens, chunk_vocab)
    if cross and chunk_tokens is None:
        ct = max(1, ct // 2)  # two blocks of logits live at a time
    moments = 2 if variance else int(entropy)
    parts: list[dict[str, torch.Tensor]] = []
    with torch.autocast(hidden.device.type, enabled=False):
        for n0 in range(0, n, ct):
            hc = h[n0 : n0 + ct]
            tc = None if t is None else t[n0 : n0 + ct]
            acc = _Online(hc.shape[0], h.device, moments=moments, rank=rank, topk=topk, cross=cross)
            dot = None
            if tc is not None and rank:
                dot = reference._target_logits(hc, weight, bias, tc, softcap, temperature)
            for v0 in range(0, vocab, cv):
                sl = slice(v0, v0 + cv)
                b = None if bias is None else bias[sl]
                z, _ = reference._block_logits(hc, weight[sl], b, softcap, temperature)
                if tc is not None:
                    acc.targets(z, v0, tc, dot)
                if topk:
                    acc.top(z, v0)
                zq = None
                if hq is not None and ref_weight is not None:
                    bq = None if ref_bias is None else ref_bias[sl]
                    zq, _ = reference._block_logits(hq[n0 : n0 + ct], ref_weight[sl], bq, ref_softcap, temperature)
                acc.add(z, zq)
            parts.append(acc.finish())
    if parts:
        merged = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    else:  # zero tokens: empty outputs of the right dtypes
        merged = _Online(0, h.device, moments=moments, rank=rank, topk=topk, cross=cross).finish()

    def shaped(key: str, extra: tuple[int, ...] = ()) -> torch.Tensor | None:
        return merged[key].reshape(*lead, *extra) if key in merged else None

    return SoftmaxSummary(
        lse=merged["lse"].reshape(lead),
        logp=shaped("logp") if t is not None else None,
        entropy=shaped("entropy"),
        logp_var=shaped("logp_var"),
        rank=shaped("rank"),
        topk_ids=shaped("topk_ids", (topk,)),
        topk_logp=shaped("topk_logp", (topk,)),
        cross_mean=shaped("cross_mean"),
        cross_var=shaped("cross_var"),
    )
