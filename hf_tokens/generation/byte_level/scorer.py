"""Next-token log-probabilities of many token sequences that share a prefix, with a KV cache and a memo.

The cover encodings of a byte prefix all start with the same committed token prefix (the tokens before the anchor)
and differ only in their last few tokens. :class:`PrefixScorer` keeps one ``DynamicCache`` for the committed prefix
(cropped and extended as the text moves on), runs the differing tails of all requested sequences in one batched
forward over a copy of that cache, and memoises the results, so a step of byte-level decoding costs one small
forward over the new cover tokens, not a pass over the context or the vocabulary.

The forwards run the model body once through :func:`hf_tokens.analysis.lm_head.forward_hidden` (the machinery of
``analysis.token_stats``): only the last position of each sequence goes through the LM head (with the model's softcap
/ logit scale, checked against the model's own logits on first use), so a long prefix costs no ``[T x vocab]``
logits. The head runs in float32 (``LMHead.logits``); the log-probs equal those of the model's logits up to rounding.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

import torch

from hf_tokens.analysis.lm_head import LMHead, cache_kwarg, forward_hidden


def _common_prefix_len(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = min(len(a), len(b))
    k = 0
    while k < n and a[k] == b[k]:
        k += 1
    return k


class PrefixScorer:
    """``logprobs(seqs)`` -> one fp32 ``log_softmax`` vector over the vocabulary per token sequence."""

    def __init__(self, model: Any, *, batch_size: int = 16, memo_size: int = 256) -> None:
        self.model = model
        self.batch_size = batch_size
        self.memo_size = memo_size
        self._memo: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()
        self._prefix: tuple[int, ...] = ()
        self._cache: Any = None
        self.forward_calls = 0
        self._head = LMHead.of(model)
        self._cache_kwarg = cache_kwarg(model)  # transformers >= 5.2x renamed `past_key_values` to `cache`
        self.forward_tokens = 0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _remember(self, seq: tuple[int, ...], logprobs: torch.Tensor) -> None:
        self._memo[seq] = logprobs
        self._memo.move_to_end(seq)
        while len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)

    def _forward(
        self, input_ids: torch.Tensor, cache: Any, attention_mask: torch.Tensor, last: torch.Tensor
    ) -> torch.Tensor:
        """Float32 log-probs ``[B, V]`` at position ``last[b]`` of each row."""
        past = cache.get_seq_length() if cache is not None else 0
        positions = past + torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        self.forward_calls += 1
        self.forward_tokens += int(attention_mask[:, past:].sum())
        hidden = forward_hidden(
            self.model,
            self._head,
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=positions,
            use_cache=cache is not None,
            **{self._cache_kwarg: cache},
        )
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        return torch.log_softmax(self._head.logits(hidden[rows, last.to(hidden.device)]), dim=-1)

    def _commit(self, prefix: tuple[int, ...]) -> None:
        """Make the cache hold exactly ``prefix`` (crop what differs, forward what is new)."""
        from transformers import DynamicCache

        keep = _common_prefix_len(self._prefix, prefix)
        if self._cache is not None and keep < len(self._prefix):
            try:
                if keep == 0:
                    raise ValueError
                self._cache.crop(keep)
                self._prefix = self._prefix[:keep]
            except (ValueError, NotImplementedError, AttributeError, TypeError):
                self._cache, self._prefix = None, ()
        if self._cache is None:
            self._cache, self._prefix = DynamicCache(config=self.model.config), ()
        new = prefix[len(self._prefix) :]
        if not new:
            return
        ids = torch.tensor([new], device=self.device)
        mask = torch.ones(1, len(prefix), dtype=torch.long, device=self.device)
        logprobs = self._forward(ids, self._cache, mask, torch.tensor([len(new) - 1]))
        self._prefix = prefix
        self._remember(prefix, logprobs[0])

    def cache_for(self, seq: tuple[int, ...]) -> Any:
        """A copy of the KV cache of the longest committed prefix of ``seq`` that leaves at least one token of
        ``seq`` to run (``None`` when nothing is shared). Token-level decoding from a cover encoding starts from it
        instead of re-reading the whole context."""
        keep = min(_common_prefix_len(self._prefix, seq), len(seq) - 1)
        if self._cache is None or keep < 1:
            return None
        cache = copy.deepcopy(self._cache)
        if keep < len(self._prefix):
            try:
                cache.crop(keep)
            except (ValueError, NotImplementedError, AttributeError, TypeError):
                return None
        return cache

    @torch.no_grad()
    def logprobs(self, seqs: list[tuple[int, ...]]) -> list[torch.Tensor]:
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
            common = missing[0]
            for s in missing[1:]:
                common = common[: _common_prefix_len(common, s)]
            # the batched forward needs at least one token of every missing sequence beyond the committed prefix
            committed = common[:-1] if any(len(s) == len(common) for s in missing) else common
            if committed:
                self._commit(committed)
                if committed in self._memo:
                    found[committed] = self._memo[committed]
            else:
                self._cache, self._prefix = None, ()
            todo = [s for s in missing if s not in found]
            for start in range(0, len(todo), self.batch_size):
                found.update(self._run_tails(todo[start : start + self.batch_size], committed))
        return [found[s] for s in seqs]

    def _run_tails(
        self, seqs: list[tuple[int, ...]], committed: tuple[int, ...]
    ) -> dict[tuple[int, ...], torch.Tensor]:
        tails = [s[len(committed) :] for s in seqs]
        width = max(len(t) for t in tails)
        pad = 0
        ids = torch.full((len(tails), width), pad, dtype=torch.long, device=self.device)
        mask = torch.zeros(len(tails), len(committed) + width, dtype=torch.long, device=self.device)
        mask[:, : len(committed)] = 1
        for r, t in enumerate(tails):
            ids[r, : len(t)] = torch.tensor(t, device=self.device)
            mask[r, len(committed) : len(committed) + len(t)] = 1
        cache = None
        if committed:
            cache = copy.deepcopy(self._cache)
            if len(tails) > 1:
                cache.batch_repeat_interleave(len(tails))
        rows = self._forward(ids, cache, mask, torch.tensor([len(t) - 1 for t in tails]))
        for s, row in zip(seqs, rows):
            self._remember(s, row)
        return dict(zip(seqs, rows))
