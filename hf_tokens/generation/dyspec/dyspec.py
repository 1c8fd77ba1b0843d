"""DySpec (Xiong et al., 2024, arXiv:2410.11744): a draft model grows the token tree greedily at run time.

Each candidate continuation carries a value: the product of the draft model's probabilities along its path, which
DySpec shows tracks the chance that the target accepts it. The tree is expanded greedily by value from a max-heap:
the best candidate joins the tree, the draft model is run on it, and its top children are pushed with value
``parent value * q(child)``. Expansion stops when the tree reaches ``max_tree_size`` nodes or the best remaining
value drops below ``threshold`` — so the tree is large where the draft is confident and small where it is not.
The tree is then verified by the target in one forward (shared tree machinery), and the draft's cache is rolled
back to the committed tokens.

Deviations from the paper, named:

* Expansion is batched: each round pops up to ``expand_per_round`` best candidates and runs *one* draft forward
  over all of them (with a tree mask over the draft's cache), instead of one draft call per popped node.
* Children are the draft's top-``branching`` tokens (deterministic), not samples from the draft; under sampling
  the verifier treats them as point-mass candidates (lossless multi-candidate rule), which keeps the target
  distribution exactly but accepts less often than the paper's sampled-draft rule at high temperature.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

from hf_tokens.generation.dyspec.draft import check_draft
from hf_tokens.generation.entry import make_custom_generate, require_ints
from hf_tokens.generation.tree.decode import TREE_OPTIONS, tree_decode
from hf_tokens.generation.tree.linear import verification_linear
from hf_tokens.generation.tree.proposer import TreeProposer
from hf_tokens.generation.tree.tree import TokenTree, TreeShape
from hf_tokens.generation.tree.verify import keep_cache_slots, tree_mask


@dataclass
class DySpecConfig:
    """Settings of DySpec (arXiv:2410.11744)."""

    max_tree_size: int = field(default=16, metadata={"help": "most nodes verified per step, including the root"})
    threshold: float = field(
        default=0.02, metadata={"help": "stop expanding when the best candidate's path probability is below this"}
    )
    branching: int = field(default=4, metadata={"help": "children pushed per expanded node (draft top tokens)"})
    expand_per_round: int = field(default=4, metadata={"help": "candidates added per draft forward"})
    max_rounds: int = field(default=6, metadata={"help": "most draft forwards per step (bounds the tree depth)"})

    def __post_init__(self) -> None:
        require_ints(self, ("max_tree_size", "branching", "expand_per_round", "max_rounds"))
        if not isinstance(self.threshold, (int, float)) or not 0 <= self.threshold < 1:
            raise ValueError(f"threshold must be a number in [0, 1), got {self.threshold!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DySpecProposer(TreeProposer):
    """Greedy, value-ordered tree expansion with a draft model that keeps its own KV cache."""

    def __init__(self, draft: Any, config: DySpecConfig) -> None:
        self.draft = draft
        self.config = config
        self.max_nodes = config.max_tree_size
        self.cache = DynamicCache(config=draft.config)
        self.cached = 0  # committed tokens in the draft's cache
        self.dtype = draft.dtype if draft.dtype.is_floating_point else torch.float32
        self.device = draft.device
        self.draft_forwards = 0
        self.steps = 0

    def _top(self, logits: torch.Tensor) -> tuple[list[list[int]], list[list[float]]]:
        probs = torch.softmax(logits.float(), dim=-1)
        top = probs.topk(self.config.branching, dim=-1)
        return top.indices.tolist(), top.values.tolist()

    def propose(self, tokens: list[int]) -> TokenTree:
        with verification_linear(self.draft, self.onednn_linear):  # multi-token draft forwards (see tree.linear)
            return self._expand(tokens)

    def _expand(self, tokens: list[int]) -> TokenTree:
        cfg = self.config
        # Catch the draft up on the committed tokens it has not seen (the root is the last of them).
        pending = torch.tensor(tokens[self.cached :], dtype=torch.long, device=self.device).view(1, -1)
        out = self.draft(input_ids=pending, cache=self.cache, use_cache=True)
        self.draft_forwards += 1
        self.cached = len(tokens)
        ids, probs = self._top(out.logits[0, -1:])

        node_tokens, parents, values = [tokens[-1]], [-1], [1.0]
        slots: list[int | None] = [None]  # draft-cache slot (relative to self.cached) of forwarded nodes
        heap = [(-p, t, 0) for t, p in zip(ids[0], probs[0])]
        heapq.heapify(heap)
        written = 0
        fresh: list[int] = []
        for round_ in range(cfg.max_rounds):
            fresh = []
            while heap and len(node_tokens) < cfg.max_tree_size and len(fresh) < cfg.expand_per_round:
                neg, tok, parent = heapq.heappop(heap)
                if -neg < cfg.threshold:
                    heap.clear()
                    break
                fresh.append(len(node_tokens))
                node_tokens.append(tok)
                parents.append(parent)
                values.append(-neg)
                slots.append(None)
            if not fresh or len(node_tokens) >= cfg.max_tree_size or round_ == cfg.max_rounds - 1:
                break
            # One draft forward over the new nodes; each attends to its forwarded ancestors and itself.
            attend = []
            for j, node in enumerate(fresh):
                slots[node] = written + j
                row, a = [], parents[node]
                while a > 0:
                    row.append(self.cached + slots[a])  # type: ignore[operator]
                    a = parents[a]
                row.append(self.cached + written + j)
                attend.append(row)
            kv = self.cached + written + len(fresh)
            depth = [self._depth(parents, n) for n in fresh]
            out = self.draft(
                input_ids=torch.tensor([node_tokens[n] for n in fresh], device=self.device).view(1, -1),
                attention_mask=tree_mask(self.cached, attend, kv, self.dtype, self.device),
                position_ids=torch.tensor(depth, device=self.device).view(1, -1) + self.cached - 1,
                cache=self.cache,
                use_cache=True,
            )
            self.draft_forwards += 1
            written += len(fresh)
            ids, probs = self._top(out.logits[0])
            for j, node in enumerate(fresh):
                for t, p in zip(ids[j], probs[j]):
                    heapq.heappush(heap, (-values[node] * p, t, node))
        keep_cache_slots(self.cache, self.cached, [], written)  # drop the expansion from the draft's cache
        self.steps += 1
        return TokenTree(TreeShape(tuple(parents)), node_tokens)

    @staticmethod
    def _depth(parents: list[int], node: int) -> int:
        d = 0
        while node > 0:
            node = parents[node]
            d += 1
        return d

    def update(self, tree: TokenTree, logits: torch.Tensor, path: list[int], emitted: list[int]) -> None:
        pass

    def stats(self) -> dict[str, Any]:
        return {"draft_forwards_per_step": self.draft_forwards / max(self.steps, 1)}


def _decode(
    model: Any, input_ids: torch.LongTensor, dyspec_config: DySpecConfig, draft_model: Any = None, **decode_kwargs: Any
) -> Any:
    return tree_decode(model, input_ids, DySpecProposer(draft_model, dyspec_config), **decode_kwargs)


generate = make_custom_generate(
    _decode,
    DySpecConfig,
    "dyspec_config",
    options={"draft_model": None, **TREE_OPTIONS},
    check=lambda model, kwargs: check_draft(model, kwargs.get("draft_model")),
    doc="""DySpec speculative decoding: ``model.generate(**inputs, custom_generate=generate, draft_model=draft)``.

    ``draft_model`` (required) is any causal LM over the target's vocabulary (e.g. :func:`truncated_draft`);
    ``dyspec_config`` a :class:`DySpecConfig` or dict (tree size, threshold, branching, rounds); ``decoding_stats`` a
    dict filled with steps, mean accepted tokens and draft forwards per step; ``onednn_linear=False`` keeps PyTorch's
    stock CPU linears in the multi-token forwards. Lossless: greedy output equals plain greedy ``generate``;
    sampling keeps the target distribution. Batch size 1 only.""",
)


def contract() -> dict[str, Any]:
    """Generation contract (tests/suites/README.md): the draft is the target's first layer plus its head."""
    from hf_tokens.generation.dyspec.draft import truncated_draft

    return {
        "generate": generate,
        "make_kwargs": lambda model: {"draft_model": truncated_draft(model, 1)},
        "lossless": True,
    }
