"""Preallocated per-slot state of a cache layer: one buffer per tensor, exposed on the layer as views.

A cache layer keeps several tensors with one entry per stored token ("slot"): keys and values ``[B, H, S, D]``,
positions, pad flags and method accumulators ``[B, H, S, *tail]``. Re-concatenating all of them at every decoding
step copies the whole cache each time; :class:`SlotStore` instead keeps buffers ``[B, H, C, *tail]`` with spare
slots and publishes ``buffer[:, :, :S]`` as the layer's attribute of the same name (``layer.keys`` ...). Appending
writes the new slots in place; removing one slot per row moves the last slot into its place (``swap_remove``);
anything else gathers the kept slots into new compact buffers. Code that assigns a new tensor to one of those
attributes (instead of writing in place) is supported: :meth:`SlotStore.adopt` copies it back into the buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class SlotStore:
    """The buffers behind a layer's per-slot attributes; ``size`` slots are in use, ``capacity`` allocated."""

    def __init__(self, owner: Any, growth: Callable[[int], int]) -> None:
        self.owner = owner
        self.growth = growth  # spare slots to add when a buffer must grow to hold `needed` slots
        self.buffers: dict[str, torch.Tensor] = {}
        self.size = 0

    def init(self, batch: int, heads: int, device: Any, specs: dict[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
        """Empty buffers ``[batch, heads, 0, *tail]`` for each ``name: (tail, dtype)``."""
        self.buffers = {
            name: torch.zeros(batch, heads, 0, *tail, dtype=dtype, device=device)
            for name, (tail, dtype) in specs.items()
        }
        self.size = 0
        self._publish()

    def clear(self) -> None:
        self.buffers = {}
        self.size = 0

    @property
    def capacity(self) -> int:
        return next(iter(self.buffers.values())).shape[2] if self.buffers else 0

    def allocated_bytes(self, names: Iterable[str]) -> int:
        return sum(self.buffers[n].numel() * self.buffers[n].element_size() for n in names if n in self.buffers)

    def append(self, new: dict[str, torch.Tensor], count: int) -> None:
        """Write ``count`` new slots: ``new[name]`` (broadcast to ``[B, H, count, *tail]``), zeros for the rest."""
        needed = self.size + count
        if needed > self.capacity:
            self._grow(needed + self.growth(needed))
        for name, buf in self.buffers.items():
            dst = buf[:, :, self.size : needed]
            if name in new:
                dst.copy_(new[name])
            else:
                dst.zero_()
        self.size = needed
        self._publish()

    def _grow(self, capacity: int) -> None:
        for name, buf in self.buffers.items():
            grown = buf.new_empty(*buf.shape[:2], capacity, *buf.shape[3:])
            grown[:, :, : self.size].copy_(buf[:, :, : self.size])
            self.buffers[name] = grown

    def swap_remove(self, slot: torch.Tensor, skip: Iterable[str] = ()) -> None:
        """Remove slot ``slot[b, h, 0]`` of every row and head: the last slot moves into its place.

        Tensors named in ``skip`` are left as they are (e.g. pad flags known to be all False).
        """
        last = self.size - 1
        for name, buf in self.buffers.items():
            if name in skip:
                continue
            src = buf[:, :, last : last + 1].clone()
            index = slot.view(*slot.shape, *([1] * (buf.dim() - 3))).expand_as(src)
            buf.scatter_(2, index, src)
        self.size = last
        self._publish()

    def gather(self, keep: torch.Tensor) -> None:
        """Keep the slots ``keep`` (``[B, H, C]`` indices), in that order, in new compact buffers."""
        for name, buf in self.buffers.items():
            view = buf[:, :, : self.size]
            index = (
                keep
                if view.dim() == 3
                else keep.view(*keep.shape, *([1] * (view.dim() - 3))).expand(*keep.shape, *view.shape[3:])
            )
            self.buffers[name] = torch.gather(view, 2, index)
        self.size = keep.shape[-1]
        self._publish()

    def take(self, name: str, index: torch.Tensor) -> torch.Tensor:
        """``buffer[b, h, index[b, i]]`` as ``[B, H, k, *tail]`` (``index`` ``[B, k]``, the same slots for every head).

        One ``index_select`` of whole rows of the flattened buffer: much faster than a gather along dim 2.
        """
        buf = self.buffers[name]
        batch, heads, capacity = buf.shape[:3]
        base = torch.arange(batch * heads, device=index.device).view(batch, heads, 1) * capacity
        flat = (index[:, None, :] + base).reshape(-1)
        return buf.reshape(batch * heads * capacity, *buf.shape[3:]).index_select(0, flat).view(
            batch, heads, index.shape[-1], *buf.shape[3:]
        )

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Replace every buffer by ``fn`` of its used slots (batch reordering; the slot count is unchanged)."""
        self.buffers = {name: fn(buf[:, :, : self.size]) for name, buf in self.buffers.items()}
        self._publish()

    def adopt(self) -> None:
        """Copy back into the buffers any attribute that was assigned a new tensor instead of written in place."""
        for name, buf in self.buffers.items():
            value = getattr(self.owner, name)
            if value.data_ptr() == buf.data_ptr() and value.shape[2] == self.size:
                continue
            view = buf[:, :, : self.size]
            if value.shape != view.shape:
                raise RuntimeError(
                    f"{type(self.owner).__name__}.{name} was replaced by a tensor of shape {tuple(value.shape)}; "
                    f"it must keep shape {tuple(view.shape)} (one entry per stored slot)"
                )
            view.copy_(value)
            setattr(self.owner, name, view)

    def _publish(self) -> None:
        for name, buf in self.buffers.items():
            setattr(self.owner, name, buf[:, :, : self.size])
