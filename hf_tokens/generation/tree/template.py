"""Static tree templates: which child ranks to draft, chosen to maximise the expected accepted length.

A template is a set of rank paths (Medusa-style "choices"): ``(0, 2)`` means "the top candidate after the root,
then the third candidate after that". Given the probability ``p[r]`` that the rank-``r`` candidate is the target's
choice, a path's chance of being accepted is the product of its ranks' ``p`` (independence assumption), and the
expected number of accepted drafts is the sum over the tree's nodes. :func:`best_first_template` adds nodes in
decreasing order of that chance, which is optimal for the sum under the assumption (every prefix of a path is at
least as likely as the path).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def best_first_template(num_drafts: int, rank_probs: Sequence[float], max_depth: int = 16) -> list[tuple[int, ...]]:
    """The ``num_drafts`` rank paths with the highest acceptance chance (ties broken by shorter, lower ranks)."""
    if num_drafts < 0:
        raise ValueError(f"num_drafts must be >= 0, got {num_drafts}")
    if not rank_probs or any(not 0 < p <= 1 for p in rank_probs):
        raise ValueError(f"rank_probs must be non-empty probabilities in (0, 1], got {list(rank_probs)}")
    heap: list[tuple[float, tuple[int, ...]]] = [(-p, (r,)) for r, p in enumerate(rank_probs)]
    heapq.heapify(heap)
    chosen: list[tuple[int, ...]] = []
    while heap and len(chosen) < num_drafts:
        neg, path = heapq.heappop(heap)
        chosen.append(path)
        if len(path) < max_depth:
            for r, p in enumerate(rank_probs):
                heapq.heappush(heap, (neg * p, (*path, r)))
    return chosen


def expected_accepted(paths: Sequence[tuple[int, ...]], rank_probs: Sequence[float]) -> float:
    """Expected accepted drafts per step under the independence model (add 1 for the target's own token)."""
    total = 0.0
    for path in paths:
        chance = 1.0
        for r in path:
            chance *= rank_probs[r]
        total += chance
    return total
