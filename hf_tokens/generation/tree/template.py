"""Static tree templates: which child ranks to draft, chosen to maximise the expected accepted length.

A template is a set of rank paths (Medusa-style "choices"): ``(0, 2)`` means "the top candidate after the root,
then the third candidate after that". Given the probability ``p[d][r]`` that the rank-``r`` candidate at draft level
``d`` is the target's choice (given that its parent was accepted), a path's chance of being accepted is the product
along it, and the expected number of accepted drafts is the sum over the tree's nodes. :func:`best_first_template`
adds nodes in decreasing order of that chance, which maximises the sum for a given size (every prefix of a path is
at least as likely as the path, so the chosen set is always a tree).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

RankProbs = Sequence[float] | Sequence[Sequence[float]]


def _table(rank_probs: RankProbs) -> list[list[float]]:
    """Per-level probabilities; a flat list means the same for every level, the last level repeats."""
    if not rank_probs:
        raise ValueError("rank_probs must not be empty")
    rows: list[list[float]]
    if isinstance(rank_probs[0], (int, float)):
        rows = [[float(p) for p in rank_probs]]  # type: ignore[arg-type]
    else:
        rows = [[float(p) for p in row] for row in rank_probs]  # type: ignore[union-attr]
    width = len(rows[0])
    for row in rows:
        if len(row) != width or any(not 0 < p <= 1 for p in row):
            raise ValueError(
                f"rank_probs must hold probabilities in (0, 1], one row per level, got {list(rank_probs)}"
            )
    return rows


def best_first_template(num_drafts: int, rank_probs: RankProbs, max_depth: int = 16) -> list[tuple[int, ...]]:
    """The ``num_drafts`` rank paths with the highest acceptance chance (ties broken by shorter, lower ranks)."""
    if num_drafts < 0:
        raise ValueError(f"num_drafts must be >= 0, got {num_drafts}")
    table = _table(rank_probs)

    def level(d: int) -> list[float]:
        return table[min(d, len(table) - 1)]

    heap: list[tuple[float, tuple[int, ...]]] = [(-p, (r,)) for r, p in enumerate(level(0))]
    heapq.heapify(heap)
    chosen: list[tuple[int, ...]] = []
    while heap and len(chosen) < num_drafts:
        neg, path = heapq.heappop(heap)
        chosen.append(path)
        if len(path) < max_depth:
            for r, p in enumerate(level(len(path))):
                heapq.heappush(heap, (neg * p, (*path, r)))
    return chosen


def expected_accepted(paths: Sequence[tuple[int, ...]], rank_probs: RankProbs) -> float:
    """Expected accepted drafts per step under the independence model (add 1 for the target's own token)."""
    table = _table(rank_probs)
    total = 0.0
    for path in paths:
        chance = 1.0
        for d, r in enumerate(path):
            chance *= table[min(d, len(table) - 1)][r]
        total += chance
    return total
