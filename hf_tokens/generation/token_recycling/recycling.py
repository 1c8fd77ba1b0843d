"""Token Recycling (Luo et al., 2024, arXiv:2408.08696): recycle the verifier's own top-k candidates as drafts.

An adjacency matrix ``M[vocab, k]`` stores, for every token id, the top-``k`` next tokens the target model predicted
the last time it saw that token. Each step, a draft tree is filled by a BFS over a *static* tree template: the root
is the last chosen token, and a node of rank ``r`` below a node carrying token ``t`` gets ``M[t, r]``. The tree is
verified in one forward (tree attention); afterwards the rows of every token in the tree are overwritten with the
top-``k`` of the logits the verification just produced (accepted or not: nothing the model computed is thrown away).

Deviations from the paper, named:

* Template: the paper ships one hand-designed ~80-node tree. Here the template is built for any size by
  :func:`~hf_tokens.generation.tree.template.best_first_template` from per-rank acceptance rates measured with
  SmolLM2 (:data:`RANK_ACCEPTANCE`); ``tree_size=80`` gives the paper's size.
* Default size: 8 nodes, tuned for CPU verification cost. A GPU verifies 80 tokens for about the price of one; a
  CPU does not: a tree forward's cost in one-token forwards grows with its size (``python benchmarks/speculative.py
  --cost-curve 1,2,4,8,16,32,80``, stock and oneDNN linears), while the expected tokens per step under
  :data:`RANK_ACCEPTANCE` grow only slowly with size (:func:`~hf_tokens.generation.tree.template.expected_accepted`),
  so tokens per step divided by the step's cost peaks at 6-8 nodes on this CPU. A measured tree-size sweep
  (``--sweep 4,12,16``; ``bench_results/speculative_tree_sweep.json``, an earlier 4-prompt run) put 8, 12 and 16
  nodes on one plateau and 4 nodes behind; 8 is the cheapest of the plateau. On a GPU pass ``tree_size=80``.
* Update order: when a token occurs on several nodes, the row written last is the one from the accepted path (its
  context is the real one); the paper leaves the order of duplicate writes unspecified.
* Initialisation: the matrix starts empty and is also filled from the logits of the last ``prefill_update_tokens``
  prompt positions, which the prefill computes anyway. The official code drafts from never-written rows too (they
  hold token 0); here the subtree below a token whose row was never written is left out of the tree, which makes
  early, cold steps cheaper on hardware where verification cost grows with tree size and loses nothing.
* Persistence: the paper keeps the matrix across queries ("hot start"). Here every ``generate`` call starts fresh
  unless you pass the same :class:`AdjacencyMatrix` as ``token_recycling_state=`` to successive calls.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from hf_tokens.generation.entry import make_custom_generate, require_ints
from hf_tokens.generation.tree.decode import TREE_OPTIONS, tree_decode
from hf_tokens.generation.tree.proposer import TreeProposer
from hf_tokens.generation.tree.template import best_first_template
from hf_tokens.generation.tree.tree import TokenTree, TreeShape

#: P(the rank-r recycled candidate is the target's next token | its parent was accepted), for draft levels 1, 2 and
#: 3+ (the last row repeats), measured with SmolLM2-135M-Instruct on held-out prompts of the benchmark's mix (8
#: prompts x 128 greedy tokens, cold matrix): ``python benchmarks/speculative.py --calibrate``.
RANK_ACCEPTANCE = (
    (0.285, 0.084, 0.023, 0.018, 0.016, 0.002, 0.011, 0.016),
    (0.439, 0.106, 0.04, 0.025, 0.015, 0.01, 0.03, 0.01),
    (0.425, 0.134, 0.039, 0.039, 0.001, 0.016, 0.001, 0.008),
)


@dataclass
class TokenRecyclingConfig:
    """Settings of Token Recycling (arXiv:2408.08696)."""

    top_k: int = field(default=8, metadata={"help": "candidates stored per token id (the matrix's width k)"})
    tree_size: int = field(
        default=8,
        metadata={
            "help": "nodes per draft tree including the root (the default is tuned for CPUs; see the module "
            "docstring). The paper uses ~80 on GPUs, where a forward over 80 tokens costs about as much as over one"
        },
    )
    max_depth: int = field(default=10, metadata={"help": "deepest draft level of the template"})
    prefill_update_tokens: int = field(
        default=128, metadata={"help": "prompt positions whose logits fill the matrix before decoding (0: none)"}
    )
    tree_paths: tuple[tuple[int, ...], ...] | None = field(
        default=None, metadata={"help": "explicit template as rank paths, e.g. ((0,), (1,), (0, 0)); overrides size"}
    )

    def __post_init__(self) -> None:
        require_ints(self, ("top_k", "tree_size", "max_depth"))
        require_ints(self, ("prefill_update_tokens",), minimum=0)
        if self.tree_paths is not None:
            paths = tuple(tuple(int(r) for r in p) for p in self.tree_paths)
            if not paths or any(not p for p in paths):
                raise ValueError("tree_paths must be a non-empty list of non-empty rank paths")
            if any(r >= self.top_k or r < 0 for p in paths for r in p):
                raise ValueError(f"tree_paths ranks must be in [0, top_k={self.top_k})")
            self.tree_paths = paths

    def paths(self) -> list[tuple[int, ...]]:
        if self.tree_paths is not None:
            return list(self.tree_paths)
        probs = [row[: self.top_k] for row in RANK_ACCEPTANCE]
        return best_first_template(self.tree_size - 1, probs, self.max_depth)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AdjacencyMatrix:
    """The ``[vocab, k]`` table of recycled candidates (int32) and a written-once flag per row: ``vocab * (4k + 1)``
    bytes, 1.55 MiB for SmolLM2 with k=8."""

    def __init__(self, vocab_size: int, top_k: int = 8) -> None:
        if vocab_size < 1 or top_k < 1:
            raise ValueError(f"vocab_size and top_k must be >= 1, got {vocab_size}, {top_k}")
        self.table = torch.zeros((vocab_size, top_k), dtype=torch.int32)
        #: Rows written at least once; an unwritten row holds no candidates (all zeros).
        self.seen = torch.zeros(vocab_size, dtype=torch.bool)

    @property
    def vocab_size(self) -> int:
        return self.table.shape[0]

    @property
    def top_k(self) -> int:
        return self.table.shape[1]

    def copy(self) -> AdjacencyMatrix:
        """An independent copy (e.g. to start several generations from the same warm matrix)."""
        out = AdjacencyMatrix.__new__(AdjacencyMatrix)
        out.table = self.table.clone()
        out.seen = self.seen.clone()
        return out

    @property
    def nbytes(self) -> int:
        return self.table.numel() * self.table.element_size() + self.seen.numel() * self.seen.element_size()

    def write(self, tokens: torch.Tensor, logits: torch.Tensor, last: list[int] | None = None) -> None:
        """Row ``tokens[i]`` := top-k of ``logits[i]``; when a token repeats, the rows listed in ``last`` (the
        accepted path, whose context is the real one) are written after the others and win."""
        top = logits.topk(self.top_k, dim=-1).indices.to("cpu", torch.int32)
        tokens = tokens.to("cpu", torch.long)
        self.table[tokens] = top
        self.seen[tokens] = True
        if last:
            self.table[tokens[last]] = top[last]


class TokenRecyclingProposer(TreeProposer):
    """BFS over the static template, reading candidates from the adjacency matrix."""

    def __init__(self, config: TokenRecyclingConfig, matrix: AdjacencyMatrix, device: Any) -> None:
        self.config = config
        self.matrix = matrix
        self.device = device
        self.shape, ranks = TreeShape.from_paths(config.paths())
        self.max_nodes = len(self.shape)
        self.prompt_logits = config.prefill_update_tokens
        self.levels: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for d in range(1, self.shape.max_depth + 1):
            nodes = [i for i, dep in enumerate(self.shape.depth) if dep == d]
            self.levels.append(
                (
                    torch.tensor(nodes, dtype=torch.long),
                    torch.tensor([self.shape.parents[i] for i in nodes], dtype=torch.long),
                    torch.tensor([ranks[i][-1] for i in nodes], dtype=torch.long),
                )
            )
        self.ids = torch.zeros(self.max_nodes, dtype=torch.long)
        self.valid = torch.ones(self.max_nodes, dtype=torch.bool)
        self.subshapes: dict[tuple[int, ...], TreeShape] = {}

    def start(self, tokens: list[int], prompt_logits: torch.Tensor | None) -> None:
        if prompt_logits is not None and len(tokens) > 1:
            m = min(len(prompt_logits), len(tokens) - 1)
            prompt = torch.tensor(tokens[-1 - m : -1], dtype=torch.long)
            self.matrix.write(prompt, prompt_logits[-m:])

    def propose(self, tokens: list[int]) -> TokenTree:
        """BFS fill of the template; nodes below a token whose row was never written are left out (they would
        all carry token 0 and only make the verification forward longer)."""
        ids, valid = self.ids, self.valid
        ids[0] = tokens[-1]
        table, seen = self.matrix.table, self.matrix.seen
        for nodes, parents, ranks in self.levels:
            parent_ids = ids[parents]
            ids[nodes] = table[parent_ids, ranks].long()
            valid[nodes] = valid[parents] & seen[parent_ids]
        if bool(valid.all()):
            return TokenTree(self.shape, ids.tolist(), ids=ids.to(self.device, copy=True))
        keep = valid.nonzero().flatten()
        kept = ids[keep]
        return TokenTree(self._subshape(tuple(keep.tolist())), kept.tolist(), ids=kept.to(self.device))

    def _subshape(self, keep: tuple[int, ...]) -> TreeShape:
        """The template restricted to ``keep`` (a parent-closed set of node indices), cached per set."""
        shape = self.subshapes.get(keep)
        if shape is None:
            index = {old: new for new, old in enumerate(keep)}
            shape = TreeShape(tuple([-1] + [index[self.shape.parents[i]] for i in keep[1:]]))
            self.subshapes[keep] = shape
        return shape

    def update(self, tree: TokenTree, logits: torch.Tensor, path: list[int], emitted: list[int]) -> None:
        ids = tree.ids if tree.ids is not None else torch.tensor(tree.tokens)
        self.matrix.write(ids, logits, last=path)

    def stats(self) -> dict[str, Any]:
        return {"matrix_bytes": self.matrix.nbytes, "tree_size": self.max_nodes}


def _decode(
    model: Any,
    input_ids: torch.LongTensor,
    token_recycling_config: TokenRecyclingConfig,
    token_recycling_state: AdjacencyMatrix | None = None,
    **decode_kwargs: Any,
) -> Any:
    config = token_recycling_config
    vocab = model.get_output_embeddings().weight.shape[0]
    if token_recycling_state is None:
        matrix = AdjacencyMatrix(vocab, config.top_k)
    elif not isinstance(token_recycling_state, AdjacencyMatrix):
        raise TypeError(
            f"token_recycling_state must be an AdjacencyMatrix, got {type(token_recycling_state).__name__}"
        )
    elif (token_recycling_state.vocab_size, token_recycling_state.top_k) != (vocab, config.top_k):
        raise ValueError(
            f"token_recycling_state is {token_recycling_state.vocab_size}x{token_recycling_state.top_k}, the model "
            f"and config need {vocab}x{config.top_k}"
        )
    else:
        matrix = token_recycling_state
    proposer = TokenRecyclingProposer(config, matrix, model.device)
    return tree_decode(model, input_ids, proposer, **decode_kwargs)


generate = make_custom_generate(
    _decode,
    TokenRecyclingConfig,
    "token_recycling_config",
    options={"token_recycling_state": None, **TREE_OPTIONS},
    doc="""Token Recycling speculative decoding: ``model.generate(**inputs, custom_generate=generate, ...)``.

    Extra arguments: ``token_recycling_config`` (:class:`TokenRecyclingConfig` or dict: matrix width, tree size),
    ``token_recycling_state`` (an :class:`AdjacencyMatrix` to keep across calls, the paper's hot start),
    ``decoding_stats`` (a dict filled with steps, mean accepted tokens per step, matrix bytes), ``onednn_linear``
    (``False`` keeps PyTorch's stock CPU linears in the verification forwards). Greedy output equals plain greedy
    ``generate``; sampling keeps the target distribution. Batch size 1 only.""",
)


def contract() -> dict[str, Any]:
    """Generation contract (tests/suites/README.md)."""
    return {"generate": generate, "make_kwargs": lambda model: {}, "lossless": True}
