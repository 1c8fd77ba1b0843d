"""Selection layers: keep every token, and let each decoding query attend to ``capacity`` selected tokens.

Used by TokenSelect and TidalDecode. ``compress`` never evicts, so slots stay in position order; :meth:`select`
returns ``[B, k]`` slot indices (shared by all heads) or ``None`` for dense attention, and the layer runs the call's
own sdpa on the gathered keys, values and mask. The buffers grow by an eighth (at least 64 slots) when full, so a
step writes one slot instead of copying the cache.
"""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.attention.hooks import AttentionCall
from hf_tokens.cache.base import BudgetedLayer, tiered_topk


class SelectionLayer(BudgetedLayer):
    """A layer that keeps every token; subclasses write :meth:`select` (which tokens a decoding query attends)."""

    last_attended = 0

    @staticmethod
    def growth(needed: int) -> int:
        return max(64, needed // 8)

    def compress(self) -> None:
        return None

    def attention_output(self, call: AttentionCall) -> Any:
        self.last_attended = self.stored_tokens()
        if self.new_tokens != 1 or self.stored_tokens() <= self.config.capacity(self.seen):
            return call.run()
        indices = self.select(call)
        if indices is None:
            return call.run()
        self.last_attended = int(indices.shape[-1])
        return self.sparse_attention(call, indices)

    def select(self, call: AttentionCall) -> torch.Tensor | None:
        raise NotImplementedError

    def layout(self) -> tuple[int, int] | None:
        """``(n_sink, window)`` of this step when sinks are the first slots and the window the last ones.

        That holds while no pad is stored (slots are in position order) and the sinks and window fit in the budget;
        then the candidates are the contiguous slots ``n_sink .. S - window``. ``None`` otherwise.
        """
        capacity = self.config.capacity(self.seen)
        window = max(1, self.config.resolve_window(capacity))
        if self.has_dead or self.config.n_sink + window > capacity:
            return None
        return self.config.n_sink, window

    def selection_tiers(self) -> torch.Tensor:
        """``[B, S]`` tiers: 2 sink, 1 recent window (always includes the new token), 0 other, -1 pad."""
        positions, dead = self.positions[:, 0], self.dead[:, 0]
        window = max(1, self.config.resolve_window(self.config.capacity(self.seen)))
        tier = torch.zeros(positions.shape, dtype=torch.long, device=positions.device)
        tier = torch.where(positions >= self.seen - window, 1, tier)
        tier = torch.where(self.real_rank()[:, 0] < self.config.n_sink, 2, tier)
        return torch.where(dead, -1, tier)

    def top_tokens(self, votes: torch.Tensor) -> torch.Tensor:
        """``[B, k]`` sorted slots: sinks, the recent window and the highest ``votes`` (``[B, S]``) among the rest."""
        capacity = self.config.capacity(self.seen)
        layout = self.layout()
        if layout is None:
            return tiered_topk(votes, self.selection_tiers(), capacity)
        n_sink, window = layout
        batch, stored = votes.shape
        middle = votes[:, n_sink : stored - window].topk(capacity - n_sink - window, dim=-1).indices
        arange = torch.arange(stored, device=votes.device)
        parts = (arange[:n_sink].expand(batch, -1), middle.sort(-1).values + n_sink, arange[stored - window :])
        return torch.cat([parts[0], parts[1], parts[2].expand(batch, -1)], dim=-1)

    def sparse_attention(self, call: AttentionCall, indices: torch.Tensor) -> Any:
        """Run the call's sdpa on the slots ``indices`` (``[B, k]``) only."""
        key, value, mask = call.key, call.value, call.mask
        if mask is not None:
            mask = torch.gather(mask, -1, indices[:, None, None, :].expand(*mask.shape[:3], -1))
        if key.shape[1] == self.keys.shape[1] and value.shape[1] == self.values.shape[1]:  # the stored KV heads
            stored_key, stored_value = self.store.take(("keys", "values"), indices)
            return call.run(stored_key, stored_value, mask)
        idx = indices[:, None, :, None]
        key = torch.gather(key, 2, idx.expand(key.shape[0], key.shape[1], -1, key.shape[-1]))
        value = torch.gather(value, 2, idx.expand(value.shape[0], value.shape[1], -1, value.shape[-1]))
        return call.run(key, value, mask)
