"""ADED (Liu et al., 2024, arXiv:2407.12021): adaptive tri-gram drafts searched with MCTS, verified as a tree.

ADED approximates the target LLM's next-token distribution with a *tri-gram matrix*: counts of ``c`` following the
pair ``(a, b)``, turned into ``P(c | a, b)``. The matrix adapts during decoding: every token the target accepts adds
its tri-gram (and bi-gram), so the representation follows the model's own output distribution in this generation.
Drafts are built by Monte Carlo tree search over that representation, balancing exploitation (paths the matrix
deems likely) and exploration (less visited branches) with the PUCT rule

    a* = argmax_a  Q(s, a) + c * P(a | s) * sqrt(N(s)) / (1 + N(s, a))

where ``Q`` is the mean value of simulations through ``(s, a)`` and the value of a simulated path is its probability
under the matrix (the chance that the target accepts it). The draft tree is the set of most-visited nodes.

Deviations from the paper, named:

* The matrix starts from the prompt's tri-grams instead of a corpus-built matrix (no corpus ships with a model);
  it is therefore empty-ish on the first steps of a prompt with little repetition.
* Bi-gram counts back off the tri-gram when a pair was never seen (the paper uses only tri-grams).
* The simulated path's value is its probability under the matrix (no rollout to the LLM), so the search needs no
  extra model calls; the tree of visited nodes is verified in one forward.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from hf_tokens.generation.entry import make_custom_generate, require_ints
from hf_tokens.generation.tree.decode import TREE_OPTIONS, tree_decode
from hf_tokens.generation.tree.proposer import TreeProposer
from hf_tokens.generation.tree.tree import TokenTree, TreeShape


@dataclass
class ADEDConfig:
    """Settings of ADED (arXiv:2407.12021)."""

    tree_size: int = field(default=16, metadata={"help": "most nodes verified per step, including the root"})
    simulations: int = field(default=48, metadata={"help": "MCTS simulations per draft"})
    max_depth: int = field(default=8, metadata={"help": "deepest draft level"})
    branching: int = field(default=4, metadata={"help": "candidates read from the tri-gram matrix per node"})
    exploration: float = field(default=1.0, metadata={"help": "PUCT exploration constant c (0: pure exploitation)"})

    def __post_init__(self) -> None:
        require_ints(self, ("tree_size", "simulations", "max_depth", "branching"))
        if not isinstance(self.exploration, (int, float)) or self.exploration < 0:
            raise ValueError(f"exploration must be a number >= 0, got {self.exploration!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TrigramTable:
    """Adaptive tri-gram (with bi-gram back-off) counts over token ids."""

    def __init__(self) -> None:
        self.tri: dict[tuple[int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.bi: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, tokens: list[int], start: int = 0) -> None:
        """Count the n-grams ending at positions ``start..len(tokens)-1``."""
        for i in range(max(start, 1), len(tokens)):
            self.bi[tokens[i - 1]][tokens[i]] += 1
            if i >= 2:
                self.tri[(tokens[i - 2], tokens[i - 1])][tokens[i]] += 1

    def candidates(self, a: int | None, b: int, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` next tokens after ``(a, b)`` with their estimated probabilities."""
        counts = self.tri.get((a, b)) if a is not None else None  # type: ignore[arg-type]
        if not counts:
            counts = self.bi.get(b)
        if not counts:
            return []
        total = sum(counts.values())
        best = sorted(counts.items(), key=lambda kv: -kv[1])[:k]
        return [(tok, n / total) for tok, n in best]

    def __len__(self) -> int:
        return len(self.tri)


class _Node:
    __slots__ = ("children", "depth", "parent", "prior", "token", "value_sum", "visits")

    def __init__(self, token: int, parent: int, prior: float, depth: int) -> None:
        self.token = token
        self.parent = parent
        self.prior = prior
        self.depth = depth
        self.visits = 0
        self.value_sum = 0.0
        self.children: list[int] | None = None  # None: not expanded yet


class ADEDProposer(TreeProposer):
    def __init__(self, config: ADEDConfig, table: TrigramTable | None = None) -> None:
        self.config = config
        self.table = table if table is not None else TrigramTable()
        self.max_nodes = config.tree_size
        self._seen = 0

    def start(self, tokens: list[int], prompt_logits: torch.Tensor | None) -> None:
        self.table.add(tokens)
        self._seen = len(tokens)

    def _expand(self, nodes: list[_Node], index: int, context: tuple[int | None, int]) -> None:
        node = nodes[index]
        node.children = []
        if node.depth >= self.config.max_depth:
            return
        for tok, prob in self.table.candidates(context[0], context[1], self.config.branching):
            node.children.append(len(nodes))
            nodes.append(_Node(tok, index, prob, node.depth + 1))

    def search(self, tokens: list[int]) -> list[_Node]:
        """Run the MCTS simulations from the current context; returns every node of the search tree."""
        cfg = self.config
        prev = tokens[-2] if len(tokens) > 1 else None
        nodes = [_Node(tokens[-1], -1, 1.0, 0)]
        for _ in range(cfg.simulations):
            index, value = 0, 1.0
            context: tuple[int | None, int] = (prev, tokens[-1])
            while True:
                node = nodes[index]
                if node.children is None:
                    self._expand(nodes, index, context)
                    break
                if not node.children:
                    break
                sqrt_n = math.sqrt(node.visits + 1)
                best, best_score = -1, -math.inf
                for c in node.children:
                    child = nodes[c]
                    q = child.value_sum / child.visits if child.visits else 0.0
                    score = q + cfg.exploration * child.prior * sqrt_n / (1 + child.visits)
                    if score > best_score:
                        best, best_score = c, score
                value *= nodes[best].prior
                context = (context[1], nodes[best].token)
                index = best
            while index >= 0:  # back-up: the simulated path's probability under the matrix
                nodes[index].visits += 1
                nodes[index].value_sum += value
                index = nodes[index].parent
        return nodes

    def propose(self, tokens: list[int]) -> TokenTree:
        self.observe(tokens)  # the adaptive update: tokens accepted since the last draft join the matrix
        nodes = self.search(tokens)
        visited = [i for i in range(1, len(nodes)) if nodes[i].visits > 0]
        # Most visited first; a parent has at least its child's visits, and ties go to the shallower node, so any
        # prefix of this order contains every kept node's ancestors.
        visited.sort(key=lambda i: (-nodes[i].visits, nodes[i].depth, i))
        keep = sorted([0, *visited[: self.max_nodes - 1]], key=lambda i: (nodes[i].depth, i))
        new_index = {old: new for new, old in enumerate(keep)}
        parents = [-1] + [new_index[nodes[i].parent] for i in keep[1:]]
        return TokenTree(TreeShape(tuple(parents)), [nodes[i].token for i in keep])

    def observe(self, tokens: list[int]) -> None:
        self.table.add(tokens, start=self._seen)
        self._seen = len(tokens)

    def stats(self) -> dict[str, Any]:
        return {"trigram_contexts": len(self.table)}


def _decode(model: Any, input_ids: torch.LongTensor, aded_config: ADEDConfig, **decode_kwargs: Any) -> Any:
    return tree_decode(model, input_ids, ADEDProposer(aded_config), **decode_kwargs)


generate = make_custom_generate(
    _decode,
    ADEDConfig,
    "aded_config",
    options=TREE_OPTIONS,
    doc="""ADED speculative decoding: ``model.generate(**inputs, custom_generate=aded.generate, ...)``.

    Extra arguments: ``aded_config`` (:class:`ADEDConfig` or dict: tree size, MCTS simulations, depth, branching,
    exploration), ``decoding_stats`` (a dict filled with steps and mean accepted tokens per step), ``onednn_linear``
    (``False`` keeps PyTorch's stock CPU linears in the verification forwards). Lossless: greedy output equals plain
    greedy ``generate``; sampling keeps the target distribution. Batch size 1 only.""",
)


def contract() -> dict[str, Any]:
    """Generation contract (tests/suites/README.md)."""
    return {"generate": generate, "make_kwargs": lambda model: {}, "lossless": True}
