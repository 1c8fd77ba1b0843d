"""XTR (Lee et al., arXiv 2304.01982): the in-batch token retrieval loss, and scoring from retrieved tokens only with
missing-similarity imputation; ColBERT's MaxSim over every document token is the baseline beside them.

Notation of the paper: query tokens ``q_i`` (``i = 1..n``), document tokens ``d_j``, similarities ``s_ij = q_i . d_j``
of L2-normalised vectors. Pure tensor functions; :mod:`hf_tokens.pipelines.xtr.index` applies them to an index.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def xtr_training_scores(
    q: torch.Tensor, q_mask: torch.Tensor, d: torch.Tensor, d_mask: torch.Tensor, k_train: int
) -> torch.Tensor:
    """``f(q_b, D_c)`` for every query ``b`` and in-batch document ``c``: ``[B_q, B_d]``.

    For each query token, ``A_ij = 1`` for its ``k_train`` most similar tokens among *all* document tokens of the
    batch; ``f = (1/Z) sum_i max_j A_ij s_ij`` with ``Z`` the number of query tokens that retrieved at least one
    token of that document (``Z = 0`` gives ``f = 0``). The max runs over the retrieved tokens only (a literal
    ``A_ij s_ij`` would let an unretrieved token count as similarity 0 and hide negative retrieved ones).
    ``q``: ``[B_q, L_q, D]``, ``d``: ``[B_d, L_d, D]``; masks are 1 on real tokens.
    """
    if k_train < 1:
        raise ValueError(f"k_train must be >= 1, got {k_train}")
    bq, lq, _ = q.shape
    bd, ld, _ = d.shape
    sims = torch.einsum("bid,cjd->bicj", q, d).reshape(bq, lq, bd * ld)
    valid = d_mask.reshape(1, 1, bd * ld).bool()
    ranked = sims.masked_fill(~valid, float("-inf"))
    k = min(k_train, int(valid.sum()))
    top = ranked.topk(k, dim=-1).indices
    retrieved = torch.zeros_like(sims, dtype=torch.bool).scatter_(-1, top, True) & valid
    retrieved = retrieved.reshape(bq, lq, bd, ld)
    best = sims.reshape(bq, lq, bd, ld).masked_fill(~retrieved, float("-inf")).amax(-1)
    hit = retrieved.any(-1) & q_mask.bool()[:, :, None]  # [B_q, L_q, B_d]
    z = hit.sum(1).clamp_min(1).to(sims.dtype)
    return torch.where(hit, best, torch.zeros((), dtype=sims.dtype)).sum(1) / z


def xtr_loss(
    q: torch.Tensor,
    q_mask: torch.Tensor,
    d: torch.Tensor,
    d_mask: torch.Tensor,
    *,
    k_train: int,
    temperature: float = 0.05,
) -> torch.Tensor:
    """Cross-entropy over in-batch documents of :func:`xtr_training_scores` (document ``b`` answers query ``b``)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scores = xtr_training_scores(q, q_mask, d, d_mask, k_train)
    return F.cross_entropy(scores / temperature, torch.arange(q.shape[0], device=q.device))


def xtr_aggregate(top_sims: torch.Tensor, top_docs: torch.Tensor, n_docs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """XTR's scoring stage from the retrieved tokens alone.

    ``top_sims``/``top_docs``: ``[n, k']`` the ``k'`` highest similarities of each query token over the whole index
    (descending) and the document each retrieved token belongs to. For every candidate document (one that owns a
    retrieved token) and query token ``i``, the similarity is the best retrieved one of that document, or when none
    was retrieved the imputed ``m_i = s_{i,k'}`` (the lowest retrieved similarity of ``q_i``, an upper bound of the
    missing one); the score is their mean over query tokens. Returns ``(candidate document ids, scores)``.
    """
    if top_sims.shape != top_docs.shape or top_sims.dim() != 2:
        raise ValueError(f"top_sims and top_docs must be [n, k'] of one shape, got {top_sims.shape} {top_docs.shape}")
    candidates, slot = torch.unique(top_docs, return_inverse=True)
    imputed = top_sims[:, -1:].expand(-1, candidates.numel()).clone()
    found = torch.full_like(imputed, float("-inf")).scatter_reduce(1, slot, top_sims, reduce="amax")
    per_token = torch.where(torch.isfinite(found), found, imputed)
    del n_docs  # the candidates are a subset of range(n_docs); kept for a uniform signature with maxsim_scores
    return candidates, per_token.mean(0)


def maxsim_scores(sims: torch.Tensor, owner: torch.Tensor, n_docs: int) -> torch.Tensor:
    """ColBERT's MaxSim: ``mean_i max_{j in d} s_ij`` for every document, from the similarities ``[n, N]`` of the
    query tokens to all ``N`` indexed tokens (``owner[N]``: the document of each token)."""
    best = torch.full((sims.shape[0], n_docs), float("-inf"), dtype=sims.dtype)
    best = best.scatter_reduce(1, owner.expand(sims.shape[0], -1), sims, reduce="amax")
    return best.mean(0)
