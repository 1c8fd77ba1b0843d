"""Preallocated per-slot state of a cache layer: a few buffers, exposed on the layer as named views.

A cache layer keeps several tensors with one entry per stored token ("slot"): keys and values ``[B, H, S, D]``,
positions, pad flags and method accumulators ``[B, H, S, *tail]``. Re-concatenating all of them at every decoding
step copies the whole cache each time; :class:`SlotStore` instead keeps a few buffers ``[B, H, C, W]`` with spare
slots. Each buffer packs several fields side by side in its last dimension (keys and values in one, positions and
the float32 accumulators in another), and each field is published on the layer as a view of the first ``S`` slots
(``layer.keys`` is ``kv[:, :, :S, :D]``). Appending writes the new slots in place; removing one slot per row moves
the last slot into its place (:meth:`SlotStore.swap_remove`, two operations per buffer however many fields it
holds); anything else gathers the kept slots into new compact buffers. Code that assigns a new tensor to a field
(instead of writing it in place) is supported: :meth:`SlotStore.adopt` copies it back into the buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch

Field = tuple[str, "int | slice"]  # (buffer, column or columns of its last dimension)


class SlotStore:
    """The buffers behind a layer's per-slot fields; ``size`` slots are in use, ``capacity`` allocated."""

    def __init__(self, owner: Any, growth: Callable[[int], int]) -> None:
        self.owner = owner
        self.growth = growth  # spare slots to add when a buffer must grow to hold `needed` slots
        self.buffers: dict[str, torch.Tensor] = {}
        self.fields: dict[str, Field] = {}
        self.size = 0
        self._forget()

    def init(
        self,
        batch: int,
        heads: int,
        device: Any,
        groups: dict[str, tuple[torch.dtype, dict[str, tuple[int, ...]]]],
    ) -> None:
        """Empty buffers, one per group ``buffer: (dtype, {field: tail})``; a field's tail has at most one dimension
        (``()``: a ``[B, H, S]`` field, ``(n,)``: ``[B, H, S, n]``)."""
        self.buffers, self.fields = {}, {}
        for buffer, (dtype, fields) in groups.items():
            width = 0
            for name, tail in fields.items():
                if len(tail) > 1:
                    raise ValueError(f"field {name!r}: at most one trailing dimension, got {tail}")
                self.fields[name] = (buffer, slice(width, width + tail[0]) if tail else width)
                width += tail[0] if tail else 1
            self.buffers[buffer] = torch.zeros(batch, heads, 0, width, dtype=dtype, device=device)
        self.size = 0
        self._forget()
        self._publish()

    def clear(self) -> None:
        self.buffers, self.fields, self.size = {}, {}, 0
        self._forget()

    @property
    def capacity(self) -> int:
        return next(iter(self.buffers.values())).shape[2] if self.buffers else 0

    def allocated_bytes(self, buffers: Iterable[str]) -> int:
        key = tuple(buffers)
        if key not in self._bytes:
            self._bytes[key] = sum(self.buffers[n].numel() * self.buffers[n].element_size() for n in key)
        return self._bytes[key]

    def append(self, new: dict[str, Any], count: int, keep: Iterable[str] = ()) -> None:
        """Write ``count`` new slots: ``new[field]`` (a tensor broadcast to the field's ``[B, H, count, ...]``, or a
        number), zeros elsewhere; buffers named in ``keep`` (known to hold zeros in their spare slots) and given no
        field are left alone."""
        needed = self.size + count
        if needed > self.capacity:
            self._resize(needed + self.growth(needed))
        for buffer, buf in self.buffers.items():
            given = [f for f in self._columns[buffer] if f in new]
            if not given and buffer in keep:
                continue
            region = buf.narrow(2, self.size, count)
            whole = all(isinstance(new[f], torch.Tensor) and isinstance(self.fields[f][1], slice) for f in given)
            if given == self._columns[buffer] and whole:  # every field given as a tensor (keys, values): one write
                torch.cat([new[f] for f in given], dim=-1, out=region)
                continue
            if len(given) < len(self._columns[buffer]):
                region.zero_()
            for name in given:
                value, dst = new[name], region[..., self.fields[name][1]]
                if isinstance(value, torch.Tensor):
                    dst.copy_(value)
                else:
                    dst.fill_(value)
        self.size = needed
        self._publish()

    def swap_remove(self, slot: torch.Tensor, skip: Iterable[str] = ()) -> None:
        """Remove slot ``slot[b, h, 0]`` of every row and head: the last slot moves into its place.

        Buffers named in ``skip`` are left as they are (e.g. pad flags known to be all False).
        """
        last = self.size - 1
        for buffer, buf in self.buffers.items():
            if buffer not in skip:
                moved = buf[:, :, last : last + 1].clone()
                buf.scatter_(2, slot[..., None].expand_as(moved), moved)
        self.size = last
        self._publish()

    def gather(self, keep: torch.Tensor) -> None:
        """Keep the slots ``keep`` (``[B, H, C]`` indices), in that order, in new compact buffers."""
        for buffer, buf in self.buffers.items():
            index = keep[..., None].expand(*keep.shape, buf.shape[-1])
            self.buffers[buffer] = torch.gather(buf[:, :, : self.size], 2, index)
        self.size = keep.shape[-1]
        self._forget()
        self._publish()

    def take(self, names: Iterable[str], index: torch.Tensor) -> list[torch.Tensor]:
        """The fields ``names`` of slots ``index[b, i]`` (``[B, k]``, the same slots for every head), each
        ``[B, H, k, ...]``: one ``index_select`` of whole rows per buffer, much faster than gathers along dim 2."""
        flat, rows = self._flat()
        picked: dict[str, torch.Tensor] = {}
        out = []
        for name in names:
            buffer, column = self.fields[name]
            if buffer not in picked:
                batch, heads = self.buffers[buffer].shape[:2]
                flat_index = (rows.view(batch, heads, 1) + index[:, None, :]).reshape(-1)
                picked[buffer] = flat[buffer].index_select(0, flat_index).view(batch, heads, index.shape[-1], -1)
            out.append(picked[buffer][..., column])
        return out

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Replace every buffer by ``fn`` of its used slots (batch reordering; the slot count is unchanged)."""
        self.buffers = {name: fn(buf[:, :, : self.size]).contiguous() for name, buf in self.buffers.items()}
        self._forget()
        self._publish()

    def adopt(self) -> None:
        """Copy back into the buffers any field that was assigned a new tensor instead of written in place."""
        for name, view in self._views[self.size].items():
            value = getattr(self.owner, name)
            if value is view:
                continue
            if value.shape != view.shape:
                raise RuntimeError(
                    f"{type(self.owner).__name__}.{name} was replaced by a tensor of shape {tuple(value.shape)}; "
                    f"it must keep shape {tuple(view.shape)} (one entry per stored slot)"
                )
            view.copy_(value)
            setattr(self.owner, name, view)

    # ---- internals -----------------------------------------------------------------------------------------------
    def _resize(self, capacity: int) -> None:
        for name, buf in self.buffers.items():
            grown = buf.new_zeros(*buf.shape[:2], capacity, buf.shape[3])
            grown[:, :, : self.size].copy_(buf[:, :, : self.size])
            self.buffers[name] = grown
        self._forget()

    def _forget(self) -> None:
        """Drop the cached views (after the buffers were replaced)."""
        self._views: dict[int, dict[str, torch.Tensor]] = {}
        self._flat_views: tuple[dict[str, torch.Tensor], torch.Tensor] | None = None
        self._bytes: dict[tuple[str, ...], int] = {}
        self._last_size = -1
        self._columns = {b: [f for f, (buffer, _) in self.fields.items() if buffer == b] for b in self.buffers}

    def _flat(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Each buffer as ``[B * H * C, W]`` rows, and the first row of each (batch, head) pair."""
        if self._flat_views is None:
            batch, heads, capacity, _ = next(iter(self.buffers.values())).shape
            flat = {name: buf.view(batch * heads * capacity, -1) for name, buf in self.buffers.items()}
            device = next(iter(self.buffers.values())).device
            self._flat_views = (flat, torch.arange(batch * heads, device=device) * capacity)
        return self._flat_views

    def _publish(self) -> None:
        views = self._views.get(self.size)
        if views is None:
            used = {buffer: buf[:, :, : self.size] for buffer, buf in self.buffers.items()}
            views = {name: used[buffer][..., column] for name, (buffer, column) in self.fields.items()}
            # keep the views of this size and the last one: a decoding step alternates between two sizes
            self._views = {size: v for size, v in self._views.items() if size == self._last_size}
            self._views[self.size] = views
        self._last_size = self.size
        for name, view in views.items():
            setattr(self.owner, name, view)
