"""S2D — sorted speculative decoding (Kavehzadeh et al., 2024, arXiv:2407.01955).

One *sorted* draft model holds nested sub-networks: its first ``k`` decoder layers followed by the shared final norm
and LM head, for every ``k`` in ``depths`` (trained to work at every depth by sorted fine-tuning, :mod:`.soft`).
Each draft token is proposed by the paper's adaptive draft selection: the sub-networks are tried from the smallest
up, and the first whose confidence (top probability) reaches its threshold proposes the token; the thresholds are
per target, so one set of drafts serves several targets (a target that accepts shallow drafts gets low thresholds
for the small sub-networks, a demanding target high ones). When even the largest sub-network is below its threshold
the chain stops after that token. The chain is verified by the target in one forward through the library's lossless
verifier (:func:`hf_tokens.generation.tree.decode.tree_decode`): greedy output equals plain greedy ``generate`` and
sampling keeps the target's distribution (the chain is a point-mass candidate per position).

Named choices and deviations from the paper:

* KV caches: every sub-network keeps its own ``DynamicCache`` (exact: a sub-network's cache holds what that
  sub-network computed). A sub-network that was not used for some tokens catches up on them in one forward the next
  time it is asked (no re-prefill); after verification each cache is cropped back to the committed tokens. Sharing
  one cache between nested sub-networks (their first layers are the same computation) would save that catch-up but
  leaves the deeper layers without keys for tokens that exited early, so it is not done.
* The confidence rule is applied to every draft token (the paper's adaptive selection); a sub-network that fails its
  threshold still costs its forward, as in the paper. ``max_draft_tokens`` bounds the chain.
* The draft may be any causal LM over the target's vocabulary, including the target itself (self-draft: the
  target's own first layers); the paper trains a separate sorted draft (the first 12 layers of Vicuna-7B).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from transformers.cache_utils import DynamicCache

from hf_tokens.generation.dyspec.draft import check_draft, truncated_draft
from hf_tokens.generation.entry import make_custom_generate, require_ints
from hf_tokens.generation.tree.decode import TREE_OPTIONS, tree_decode
from hf_tokens.generation.tree.linear import verification_linear
from hf_tokens.generation.tree.proposer import TreeProposer
from hf_tokens.generation.tree.tree import TokenTree, TreeShape
from hf_tokens.generation.tree.verify import keep_cache_slots


def num_layers(model: Any) -> int:
    """Decoder layers of a Llama-style or GPT-2 causal LM."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    for name in ("num_hidden_layers", "n_layer"):
        if isinstance(getattr(config, name, None), int):
            return int(getattr(config, name))
    raise TypeError(f"cannot tell how many decoder layers {type(model).__name__} has")


def default_depths(total: int) -> tuple[int, ...]:
    """Three nested sub-networks at about 1/3, 2/3 and all of ``total`` layers (fewer for shallow models)."""
    return tuple(sorted({max(1, round(total * f)) for f in (1 / 3, 2 / 3, 1.0)}))


def check_depths(depths: Any, total: int | None, name: str = "depths") -> tuple[int, ...]:
    """``depths`` as a strictly increasing tuple of ints in ``[1, total]`` (``total=None``: no upper bound), else
    ValueError naming the argument."""
    if not isinstance(depths, (list, tuple)) or not depths:
        raise ValueError(f"{name} must be a non-empty list of layer counts, got {depths!r}")
    for d in depths:
        if not isinstance(d, int) or isinstance(d, bool) or d < 1 or (total is not None and d > total):
            allowed = "ints >= 1" if total is None else f"ints in [1, {total}] (the draft's layers)"
            raise ValueError(f"{name} must hold {allowed}, got {list(depths)}")
    if list(depths) != sorted(set(depths)):
        raise ValueError(f"{name} must be strictly increasing (smallest sub-network first), got {list(depths)}")
    return tuple(depths)


@dataclass
class S2DConfig:
    """Settings of sorted speculative decoding (arXiv:2407.01955) for one target."""

    depths: list[int] | None = field(
        default=None,
        metadata={"help": "layer counts of the draft's nested sub-networks, smallest first (None: ~1/3, 2/3, all)"},
    )
    thresholds: list[float] | None = field(
        default=None,
        metadata={
            "help": "per sub-network: propose its token when its top probability is at least this (one per depth; "
            "None: 0.6 for every sub-network). Tuned per target: this is how one set of drafts serves several"
        },
    )
    max_draft_tokens: int = field(default=6, metadata={"help": "most draft tokens verified per step"})

    def __post_init__(self) -> None:
        require_ints(self, ("max_draft_tokens",))
        if self.depths is not None:
            check_depths(self.depths, None)
            self.depths = list(self.depths)
        if self.thresholds is not None:
            if not isinstance(self.thresholds, (list, tuple)) or not self.thresholds:
                raise ValueError(f"thresholds must be a non-empty list of numbers in [0, 1], got {self.thresholds!r}")
            for t in self.thresholds:
                if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 <= t <= 1:
                    raise ValueError(f"thresholds must be numbers in [0, 1], got {list(self.thresholds)}")
            if self.depths is not None and len(self.thresholds) != len(self.depths):
                raise ValueError(
                    f"thresholds needs one value per depth: {len(self.depths)} depths, {len(self.thresholds)} given"
                )
            self.thresholds = [float(t) for t in self.thresholds]

    def resolve(self, draft: Any) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """Depths checked against ``draft``'s layers and one threshold per depth."""
        total = num_layers(draft)
        depths = check_depths(self.depths, total) if self.depths is not None else default_depths(total)
        if self.thresholds is not None and len(self.thresholds) != len(depths):
            raise ValueError(f"thresholds needs one value per depth {list(depths)}, got {self.thresholds}")
        thresholds = tuple(self.thresholds) if self.thresholds is not None else (0.6,) * len(depths)
        return depths, thresholds

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sub_networks(draft: Any, depths: tuple[int, ...]) -> list[Any]:
    """The nested sub-networks of ``draft``: its first ``d`` layers + final norm + head, sharing its weights."""
    total = num_layers(draft)
    return [draft if d == total else truncated_draft(draft, d) for d in depths]


class S2DProposer(TreeProposer):
    """A draft chain, each token from the smallest sub-network confident enough (module docstring)."""

    def __init__(self, draft: Any, config: S2DConfig) -> None:
        self.depths, self.thresholds = config.resolve(draft)
        self.subnets = sub_networks(draft, self.depths)
        self.caches = [DynamicCache(config=s.config) for s in self.subnets]
        self.cached = [0] * len(self.subnets)
        self.max_nodes = config.max_draft_tokens + 1
        self.device = draft.device
        self.exits = [0] * len(self.subnets)  # draft tokens proposed by each sub-network
        self.forwards = [0] * len(self.subnets)
        self.steps = 0

    def _ask(self, i: int, context: list[int]) -> tuple[int, float]:
        """Sub-network ``i``'s greedy token and its probability after ``context`` (catching up its cache)."""
        pending = torch.tensor(context[self.cached[i] :], dtype=torch.long, device=self.device).view(1, -1)
        out = self.subnets[i](input_ids=pending, cache=self.caches[i], use_cache=True)
        self.cached[i] = len(context)
        self.forwards[i] += 1
        probs = torch.softmax(out.logits[0, -1].float(), dim=-1)
        conf, token = probs.max(dim=-1)
        return int(token), float(conf)

    def propose(self, tokens: list[int]) -> TokenTree:
        with verification_linear(self.subnets[-1], self.onednn_linear):  # catch-up forwards cover several tokens
            chain: list[int] = []
            last = len(self.subnets) - 1
            while len(chain) < self.max_nodes - 1:
                context = tokens + chain
                for i in range(len(self.subnets)):
                    token, conf = self._ask(i, context)
                    if conf >= self.thresholds[i] or i == last:
                        break
                self.exits[i] += 1
                chain.append(token)
                if i == last and conf < self.thresholds[last]:
                    break  # even the largest sub-network is unsure: verify what we have
        committed = len(tokens)
        for i, cache in enumerate(self.caches):  # drop the draft tokens from every sub-network's cache
            if self.cached[i] > committed:
                keep_cache_slots(cache, committed, [], self.cached[i] - committed)
                self.cached[i] = committed
        self.steps += 1
        return TokenTree(TreeShape(tuple(range(-1, len(chain)))), [tokens[-1], *chain])

    def stats(self) -> dict[str, Any]:
        drafted = max(sum(self.exits), 1)
        return {
            "depths": list(self.depths),
            "thresholds": list(self.thresholds),
            "exit_share": [e / drafted for e in self.exits],
            "draft_forwards_per_step": sum(self.forwards) / max(self.steps, 1),
        }


def check_s2d(model: Any, kwargs: dict[str, Any]) -> None:
    """A draft over the target's vocabulary (default: the target itself) whose layers cover the config's depths."""
    draft = kwargs.get("draft_model")
    if draft is None:
        draft = kwargs["draft_model"] = model
    check_draft(model, draft)
    kwargs["s2d_config"].resolve(draft)


def _decode(
    model: Any, input_ids: torch.LongTensor, s2d_config: S2DConfig, draft_model: Any = None, **decode_kwargs: Any
) -> Any:
    return tree_decode(model, input_ids, S2DProposer(draft_model or model, s2d_config), **decode_kwargs)


generate = make_custom_generate(
    _decode,
    S2DConfig,
    "s2d_config",
    options={"draft_model": None, **TREE_OPTIONS},
    check=check_s2d,
    doc="""Sorted speculative decoding: ``model.generate(**inputs, custom_generate=generate, draft_model=draft)``.

    ``draft_model`` is a (sorted fine-tuned) causal LM over the target's vocabulary whose first-``k``-layer
    sub-networks are the drafts (default: the target itself, a self-draft); ``s2d_config`` a :class:`S2DConfig` or
    dict: ``depths`` of the sub-networks, one confidence ``thresholds`` value per depth (per target), and
    ``max_draft_tokens``. ``decoding_stats`` (a dict) receives steps, mean accepted tokens per step, the share of
    draft tokens each sub-network proposed and draft forwards per step. Lossless: greedy output equals plain greedy
    ``generate``; sampling keeps the target distribution. Batch size 1 only.""",
)


def contract() -> dict[str, Any]:
    """Generation contract: the draft is the target's own nested sub-networks (1 layer and all layers)."""
    return {
        "generate": generate,
        "make_kwargs": lambda model: {"draft_model": truncated_draft(model, min(2, num_layers(model)))},
        "lossless": True,
    }
