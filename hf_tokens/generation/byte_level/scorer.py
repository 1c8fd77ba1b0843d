"""Next-token log-probabilities of many token sequences that share a prefix: one tree forward, a KV cache, a memo.

The cover encodings of a byte prefix all start with the same committed token prefix (the tokens before the anchor)
and differ only in their last few tokens. :class:`PrefixScorer` keeps one ``DynamicCache`` for a prefix shared by
the sequences it was last asked for (cropped and extended as the text moves on). The tokens of the requested
sequences beyond the cached prefix form a trie; all its nodes run in *one* forward over the cache, as one sequence
with a 4D tree mask (a node attends to the cached prefix, its ancestors and itself) and position ids from its depth,
the layout of the tree verifiers of :mod:`hf_tokens.generation.tree` (with the stock linear kernels plain
``generate`` uses). Afterwards the cache keeps the trie's trunk (the tokens every requested sequence shares) and
drops the branches. Results are memoised, so a step of byte-level decoding costs at most one small forward, and a
caller may name speculative sequences (``prefetch``) to be scored in the same forward.

The forwards run the model body once through :func:`hf_tokens.analysis.lm_head.forward_hidden` (the machinery of
``analysis.token_stats``): only the nodes that end a requested sequence go through the LM head (with the model's
softcap / logit scale, checked against the model's own logits on first use), so no ``[nodes x vocab]`` logits are
computed. The head runs in float32 (``LMHead.logits``); the log-probs equal those of the model's logits up to rounding.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import torch

from hf_tokens._compat import cache_kwarg
from hf_tokens.analysis.lm_head import LMHead, forward_hidden


def _common_prefix_len(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k


def _trie(tails: Sequence[tuple[int, ...]]) -> tuple[list[int], list[int], list[int], list[int]]:
    """Nodes of the trie of ``tails`` in insertion order (parents first): tokens, parent index (-1 at the root),
    depth, and the node that ends each tail."""
    tokens: list[int] = []
    parent: list[int] = []
    depth: list[int] = []
    children: dict[tuple[int, int], int] = {}
    ends: list[int] = []
    for tail in tails:
        node = -1
        for t in tail:
            child = children.get((node, t))
            if child is None:
                child = len(tokens)
                children[(node, t)] = child
                tokens.append(t)
                parent.append(node)
                depth.append(depth[node] + 1 if node >= 0 else 0)
            node = child
        ends.append(node)
    return tokens, parent, depth, ends


class PrefixScorer:
    """``logprobs(seqs)`` -> one fp32 ``log_softmax`` vector over the vocabulary per token sequence.

    ``batch_size`` bounds the sequences run in one forward. ``forward_calls`` / ``forward_tokens`` count forwards
    and the tokens they ran (trie nodes).
    """

    def __init__(self, model: Any, *, batch_size: int = 16, memo_size: int = 256) -> None:
        self.model = model
        self.batch_size = batch_size
        self.memo_size = memo_size
        self._memo: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()
        self._prefix: tuple[int, ...] = ()
        self._cache: Any = None
        self.forward_calls = 0
        self.forward_tokens = 0
        self._head = LMHead.of(model)
        self._cache_kwarg = cache_kwarg(model)  # transformers >= 5.2x renamed `past_key_values` to `cache`

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _remember(self, seq: tuple[int, ...], logprobs: torch.Tensor) -> None:
        self._memo[seq] = logprobs
        self._memo.move_to_end(seq)
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)

    def _crop(self, keep: int) -> None:
        """Make the cache hold ``self._prefix[:keep]`` (a fresh cache when nothing is kept)."""
        from transformers import DynamicCache

        if self._cache is not None and 0 < keep < len(self._prefix):
            try:
                self._cache.crop(keep - len(self._prefix))  # a negative count removes tokens in every 5.x release
                self._prefix = self._prefix[:keep]
            except (ValueError, NotImplementedError, AttributeError, TypeError):
                self._cache = None
        if self._cache is None or keep == 0:
            self._cache, self._prefix = DynamicCache(config=self.model.config), ()

    def cache_for(self, seq: tuple[int, ...]) -> Any:
        """A copy of the KV cache of the longest cached prefix of ``seq`` that leaves at least one token of ``seq``
        to run (``None`` when nothing is shared). Token-level decoding from a cover encoding starts from it instead
        of re-reading the whole context."""
        keep = min(_common_prefix_len(self._prefix, seq), len(seq) - 1)
        if self._cache is None or keep < 1:
            return None
        cache = copy.deepcopy(self._cache)
        if keep < len(self._prefix):
            try:
                cache.crop(keep - len(self._prefix))
            except (ValueError, NotImplementedError, AttributeError, TypeError):
                return None
        return cache

    @torch.no_grad()
    def logprobs(
        self, seqs: list[tuple[int, ...]], prefetch: Callable[[], list[tuple[int, ...]]] | None = None
    ) -> list[torch.Tensor]:
        """Log-probabilities after each sequence. When some are not memoised, ``prefetch()`` may name further
        sequences to score in the same forward (guesses of what will be asked next; never called on a full hit)."""
        if not seqs:
            return []
        if any(len(s) == 0 for s in seqs):
            raise ValueError("cannot score an empty token sequence; the byte-level LM needs start tokens (bos)")
        found: dict[tuple[int, ...], torch.Tensor] = {}
        for s in seqs:
            if s in self._memo:
                self._memo.move_to_end(s)
                found[s] = self._memo[s]
        missing = [s for s in dict.fromkeys(seqs) if s not in found]
        if missing:
            if prefetch is not None:
                room = max(0, self.batch_size - len(missing))
                extra = [s for s in dict.fromkeys(prefetch()) if s and s not in self._memo and s not in found]
                missing += [s for s in extra if s not in set(missing)][:room]
            for start in range(0, len(missing), self.batch_size):
                found.update(self._run(missing[start : start + self.batch_size]))
        return [found[s] for s in seqs]

    def _run(self, seqs: list[tuple[int, ...]]) -> dict[tuple[int, ...], torch.Tensor]:
        """One tree forward for ``seqs`` over the cache; the cache then holds their common prefix."""
        trunk = seqs[0]
        for s in seqs[1:]:
            trunk = trunk[: _common_prefix_len(trunk, s)]
        # every sequence needs at least one token in the forward (its last position gives its log-probabilities)
        keep = min(_common_prefix_len(self._prefix, trunk), min(len(s) for s in seqs) - 1)
        self._crop(keep)
        keep = len(self._prefix)
        tokens, parent, depth, ends = _trie([s[keep:] for s in seqs])
        n = len(tokens)
        device, dtype = self.device, self.model.dtype if self.model.dtype.is_floating_point else torch.float32
        lowest = torch.finfo(dtype).min
        visible = torch.zeros(n, n, dtype=torch.bool)
        for i, p in enumerate(parent):
            if p >= 0:
                visible[i] = visible[p]
            visible[i, i] = True
        mask = torch.zeros(1, 1, n, keep + n, dtype=dtype)
        mask[0, 0, :, keep:] = torch.where(visible, 0.0, lowest)
        keep_rows = sorted(set(ends))
        self.forward_calls += 1
        self.forward_tokens += n
        hidden = forward_hidden(
            self.model,
            self._head,
            input_ids=torch.tensor([tokens], device=device),
            attention_mask=mask.to(device),
            position_ids=torch.tensor([[keep + d for d in depth]], device=device),
            use_cache=True,
            **{self._cache_kwarg: self._cache},
        )
        rows = torch.log_softmax(self._head.logits(hidden[0, torch.tensor(keep_rows, device=hidden.device)]), dim=-1)
        result = {}
        for s, end in zip(seqs, ends):
            result[s] = rows[keep_rows.index(end)]
            self._remember(s, result[s])
        # keep the trunk: the trie's first nodes are the tokens every sequence shares, in order
        shared = min(len(trunk) - keep, n)
        if shared < n:
            self._cache.crop(shared - n)
        self._prefix = trunk[: keep + shared]
        return result
