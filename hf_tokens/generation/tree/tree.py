"""Token trees: the shape every tree proposer hands to the verifier.

A tree is a flat list of nodes in topological order (a parent always comes before its children). Node 0 is the
*root*: the last token already chosen by the target model but not yet in the KV cache. Every other node is a
drafted continuation of its parent. One verification forward feeds all nodes at once; node ``i`` sits at position
``prefix_length + depth[i]`` and attends to the cached prefix and to its own ancestors (itself included).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class TreeShape:
    """The structure of a tree without its tokens: ``parents[i]`` is the parent of node ``i`` (``-1`` for node 0).

    Everything the verifier needs that depends only on the structure is computed once here, so a static template
    (Token Recycling) pays for it once per generation and a dynamic tree (ADED, DySpec) once per step.
    """

    parents: tuple[int, ...]
    depth: tuple[int, ...] = field(init=False)
    children: tuple[tuple[int, ...], ...] = field(init=False)
    _ancestors: torch.Tensor | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        parents = tuple(int(p) for p in self.parents)
        if not parents or parents[0] != -1:
            raise ValueError(f"parents[0] must be -1 (node 0 is the root), got {list(parents[:1])}")
        depth = [0] * len(parents)
        children: list[list[int]] = [[] for _ in parents]
        for i, p in enumerate(parents[1:], start=1):
            if not 0 <= p < i:
                raise ValueError(f"parents[{i}] must be in [0, {i - 1}] (topological order), got {p}")
            depth[i] = depth[p] + 1
            children[p].append(i)
        self.parents = parents
        self.depth = tuple(depth)
        self.children = tuple(tuple(c) for c in children)

    def __len__(self) -> int:
        return len(self.parents)

    @property
    def max_depth(self) -> int:
        return max(self.depth)

    def ancestors(self) -> torch.Tensor:
        """``[n, n]`` bool: ``a[i, j]`` is true when node ``j`` is node ``i`` or one of its ancestors."""
        if self._ancestors is None:
            n = len(self.parents)
            anc = torch.zeros(n, n, dtype=torch.bool)
            for i, p in enumerate(self.parents):
                if p >= 0:
                    anc[i] = anc[p]
                anc[i, i] = True
            self._ancestors = anc
        return self._ancestors

    def path_to(self, node: int) -> list[int]:
        """Node indices from the root to ``node`` (both included)."""
        path = []
        while node >= 0:
            path.append(node)
            node = self.parents[node]
        return path[::-1]

    def leaves(self) -> list[int]:
        return [i for i, c in enumerate(self.children) if not c]

    @classmethod
    def from_paths(cls, paths: Sequence[Sequence[int]]) -> tuple[TreeShape, list[tuple[int, ...]]]:
        """Build a shape from Medusa-style "choices": each path is a tuple of child ranks from the root.

        Returns the shape and, for each node, its path of ranks (``()`` for the root), in BFS order. Missing
        prefixes of a path are added, so ``[(0, 1)]`` also creates ``(0,)``.
        """
        keys: set[tuple[int, ...]] = set()
        for path in paths:
            path = tuple(int(r) for r in path)
            if any(r < 0 for r in path):
                raise ValueError(f"tree paths hold non-negative ranks, got {path}")
            for d in range(1, len(path) + 1):
                keys.add(path[:d])
        ordered = [(), *sorted(keys, key=lambda k: (len(k), k))]
        index = {k: i for i, k in enumerate(ordered)}
        parents = [-1] + [index[k[:-1]] for k in ordered[1:]]
        return cls(tuple(parents)), ordered


@dataclass
class TokenTree:
    """A tree shape with a token on every node (``tokens[0]`` is the root token)."""

    shape: TreeShape
    tokens: list[int]
    #: The tokens as a LongTensor on the model's device when the proposer already has them (saves a copy).
    ids: torch.Tensor | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.shape):
            raise ValueError(
                f"a tree of {len(self.shape)} nodes needs {len(self.shape)} tokens, got {len(self.tokens)}"
            )

    def __len__(self) -> int:
        return len(self.tokens)

    def child_maps(self) -> list[dict[int, int]]:
        """For each node, ``{token: child index}`` (the first child wins when two children carry the same token)."""
        maps: list[dict[int, int]] = []
        tokens = self.tokens
        for kids in self.shape.children:
            m: dict[int, int] = {}
            for c in kids:
                m.setdefault(tokens[c], c)
            maps.append(m)
        return maps

    def trim(self, *, max_depth: int, max_nodes: int) -> TokenTree:
        """The subtree of nodes at depth <= ``max_depth`` among the first ``max_nodes`` (still a valid tree)."""
        depth = self.shape.depth
        keep = [i for i in range(len(self.tokens)) if depth[i] <= max_depth][:max_nodes]
        if len(keep) == len(self.tokens):
            return self
        new_index = {old: new for new, old in enumerate(keep)}
        parents = [-1] + [new_index[self.shape.parents[i]] for i in keep[1:]]
        return TokenTree(TreeShape(tuple(parents)), [self.tokens[i] for i in keep])

    @classmethod
    def chain(cls, tokens: Sequence[int]) -> TokenTree:
        """A single path (what prompt lookup or a plain draft model proposes)."""
        return cls(TreeShape(tuple(range(-1, len(tokens) - 1))), list(tokens))

    @classmethod
    def from_parents(cls, tokens: Sequence[int], parents: Sequence[int]) -> TokenTree:
        return cls(TreeShape(tuple(parents)), list(tokens))
