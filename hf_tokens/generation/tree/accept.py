"""Acceptance rules: walk the verified tree from the root and keep the longest path the target model agrees with.

Greedy: at each node the target's choice (argmax of the processed scores) is emitted; if a child carries that
token the walk moves to it, otherwise it stops. The emitted tokens are exactly what one-token-at-a-time greedy
decoding emits.

Sampling (lossless multi-candidate rule for deterministic drafts, as in SpecInfer's multi-step speculative
sampling with point-mass draft distributions): with target distribution ``p`` at a node and candidate children
``x_1..x_m`` (distinct tokens), candidate ``x_j`` is accepted with probability ``p(x_j) / sum(p)``, where ``p`` is
the residual left after the earlier rejections; a rejection sets ``p(x_j) = 0``. If all are rejected the token is
sampled from the residual. By induction the emitted token is distributed exactly as ``p``: this is rejection
sampling of a point mass against ``p`` applied repeatedly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from hf_tokens.generation.tree.tree import TokenTree

ScoreFn = Callable[[int, list[int], torch.Tensor], torch.Tensor]


def accept_greedy_argmax(tree: TokenTree, predictions: list[int]) -> tuple[list[int], list[int]]:
    """Fast path without logits processors: ``predictions[i]`` is the argmax of node ``i``'s logits.

    Returns ``(path, tokens)``: the accepted node indices (root first) and the emitted tokens (the accepted drafts
    followed by the target's own next token), ``len(tokens) == len(path)``.
    """
    maps = tree.child_maps()
    node = 0
    path = [0]
    tokens = []
    while True:
        token = predictions[node]
        tokens.append(token)
        child = maps[node].get(token)
        if child is None:
            return path, tokens
        path.append(child)
        node = child


def residual(probs: torch.Tensor, token: int) -> torch.Tensor:
    """The target distribution left after rejecting point-mass candidate ``token`` (unnormalised)."""
    probs = probs.clone()
    probs[token] = 0
    return probs


def sample_with_candidates(
    probs: torch.Tensor, candidates: list[int], generator: torch.Generator | None = None
) -> tuple[int, int | None]:
    """One node of the sampling rule: returns ``(token, index of the accepted candidate or None)``.

    ``probs`` is the target's (normalised or not) next-token distribution, ``candidates`` distinct token ids in
    the order they are tried. The returned token is distributed exactly as ``probs``.
    """
    probs = probs.float()
    for j, token in enumerate(candidates):
        total = float(probs.sum())
        if total <= 0:
            break
        u = float(torch.rand((), generator=generator, device=probs.device))
        if u * total < float(probs[token]):
            return token, j
        probs = residual(probs, token)
    if float(probs.sum()) <= 0:  # all mass sat on rejected candidates: only reachable through float round-off
        return candidates[-1], len(candidates) - 1
    token = int(torch.multinomial(probs, 1, generator=generator))
    return token, None


def accept_with_scores(
    tree: TokenTree, logits: torch.Tensor, score_fn: ScoreFn, *, do_sample: bool, generator: torch.Generator | None
) -> tuple[list[int], list[int], list[torch.Tensor]]:
    """General path: ``score_fn(node, emitted_so_far, logits_row)`` applies the logits processors in context.

    Returns ``(path, tokens, scores)`` with the processed score row of every emitted token.
    """
    maps = tree.child_maps()
    node = 0
    path = [0]
    tokens: list[int] = []
    rows: list[torch.Tensor] = []
    while True:
        scores = score_fn(node, tokens, logits[node])
        rows.append(scores)
        if do_sample:
            probs = torch.softmax(scores.float(), dim=-1)
            candidates = list(maps[node])
            token, _ = sample_with_candidates(probs, candidates, generator)
        else:
            token = int(scores.argmax())
        tokens.append(token)
        child = maps[node].get(token)
        if child is None:
            return path, tokens, rows
        path.append(child)
        node = child
