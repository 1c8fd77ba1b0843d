"""One verification forward of a token tree over a cached prefix, and rolling the cache back to the accepted path.

The model sees the tree's nodes as one sequence of ``n`` new tokens with

* ``position_ids = prefix_length + depth`` (RoPE / learned positions see each node at its depth in its own path);
* a float additive 4D mask ``[1, 1, n, kv_length]``: ``0`` where a node may attend (the whole cached prefix, its
  ancestors and itself), ``finfo.min`` elsewhere. ``transformers``' mask builder passes a 4D mask through as is, so
  eager and SDPA attention both honour it.

Supported caches are :class:`~transformers.DynamicCache` and :class:`~transformers.StaticCache` made of plain
full-attention layers (``DynamicLayer`` / ``StaticLayer``): both write new keys at the end of the cached length and
can be cropped, which is all the rollback needs (copy the accepted nodes' keys/values next to the prefix, crop the
rest). Sliding-window, quantized or evicting caches cannot be rolled back exactly and are refused.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer, StaticCache, StaticLayer

from hf_tokens.generation.tree.tree import TokenTree, TreeShape

SUPPORTED_LAYERS = (DynamicLayer, StaticLayer)


def check_cache(cache: Any) -> None:
    """Raise ``ValueError`` unless ``cache`` can hold and roll back a draft tree."""
    if cache is None:
        return
    if type(cache) not in (DynamicCache, StaticCache):
        raise ValueError(
            f"past_key_values/cache must be a transformers DynamicCache or StaticCache for tree verification, got "
            f"{type(cache).__name__}: other caches cannot be rolled back to the accepted path"
        )
    for i, layer in enumerate(getattr(cache, "layers", [])):
        if type(layer) not in SUPPORTED_LAYERS:
            raise ValueError(
                f"cache layer {i} is a {type(layer).__name__}; tree verification supports only full-attention "
                "DynamicLayer/StaticLayer caches (sliding-window layers drop tokens the rollback would need)"
            )


def cache_capacity(cache: Cache) -> int | None:
    """Maximum number of tokens the cache can hold (``None`` when unbounded)."""
    if isinstance(cache, StaticCache):
        return min(int(layer.max_cache_len) for layer in _layers(cache))
    return None


def _layers(cache: Cache) -> list[Any]:
    return list(cache.layers)


def keep_cache_slots(cache: Cache, start: int, keep: list[int], written: int) -> None:
    """After ``written`` new slots were appended at ``start``, keep only slots ``start + keep[i]`` (in order).

    The kept keys/values are moved to ``start, start + 1, ...`` and the rest is cropped. ``keep`` must be increasing.
    """
    k = len(keep)
    if keep != list(range(k)):
        src = torch.tensor([start + i for i in keep], dtype=torch.long)
        for layer in _layers(cache):
            if not getattr(layer, "is_initialized", False):
                continue
            idx = src.to(layer.keys.device)
            layer.keys[..., start : start + k, :] = layer.keys.index_select(-2, idx)
            layer.values[..., start : start + k, :] = layer.values.index_select(-2, idx)
    if written > k:
        for layer in _layers(cache):
            layer.crop(-(written - k))


class TreeVerifier:
    """Runs tree forwards for one generation, reusing one preallocated mask buffer.

    The buffer has ``max_nodes`` rows and ``width`` columns (the longest sequence the generation can reach, or the
    static cache's length). Columns of committed tokens are ``0`` and stay so; a step writes its tree block at the
    current prefix length and :meth:`commit` turns the accepted columns into prefix columns.

    The linear kernel is the caller's choice (:func:`~hf_tokens.generation.tree.decode.tree_decode` runs its loop
    inside :func:`~hf_tokens.generation.tree.linear.verification_linear`).
    """

    def __init__(self, model: Any, cache: Cache, *, max_nodes: int, width: int) -> None:
        self.model = model
        self.cache = cache
        self.device = model.device
        self.dtype = model.dtype if model.dtype.is_floating_point else torch.float32
        self.static = isinstance(cache, StaticCache)
        capacity = cache_capacity(cache)
        self.width = capacity if capacity is not None else width
        self.min = torch.finfo(self.dtype).min
        self.mask = torch.full((1, 1, max_nodes, self.width), self.min, dtype=self.dtype, device=self.device)
        self.max_nodes = max_nodes
        self.committed = 0
        self._shape: TreeShape | None = None
        self._block: torch.Tensor | None = None
        self._depth: torch.Tensor | None = None

    def prefix(self, length: int) -> None:
        """Declare the first ``length`` cache slots (the prompt) as visible to every node."""
        self.mask[..., self.committed : length] = 0
        self.committed = length

    def _structure(self, shape: TreeShape) -> tuple[torch.Tensor, torch.Tensor]:
        if shape is not self._shape:
            anc = shape.ancestors().to(self.device)
            zero = torch.zeros((), dtype=self.dtype, device=self.device)
            self._block = torch.where(anc, zero, torch.full_like(zero, self.min))
            self._depth = torch.tensor(shape.depth, dtype=torch.long, device=self.device)
            self._shape = shape
        assert self._block is not None and self._depth is not None
        return self._block, self._depth

    def forward(self, tree: TokenTree, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[n, vocab]`` of every node; node ``i``'s row predicts the token after the path to ``i``."""
        n = len(tree)
        if n > self.max_nodes:
            raise ValueError(f"tree has {n} nodes, more than the verifier's max_nodes={self.max_nodes}")
        p = self.committed
        if p + n > self.width:
            raise ValueError(f"tree of {n} nodes does not fit after {p} cached tokens (capacity {self.width})")
        block, depth = self._structure(tree.shape)
        self.mask[0, 0, :n, p : p + n] = block
        kv = self.width if self.static else p + n
        if ids is None:
            ids = torch.tensor(tree.tokens, dtype=torch.long, device=self.device)
        out = self.model(
            input_ids=ids.view(1, n),
            attention_mask=self.mask[:, :, :n, :kv],
            position_ids=(depth + p).view(1, n),
            cache=self.cache,
            use_cache=True,
        )
        return out.logits[0]

    def commit(self, path: list[int], written: int) -> None:
        """Keep the nodes on ``path`` (increasing node indices, starting with the root) of the last forward."""
        p = self.committed
        keep_cache_slots(self.cache, p, path, written)
        k = len(path)
        self.mask[..., p : p + k] = 0
        self.mask[..., p + k : p + written] = self.min
        self.committed = p + k

    def rollback(self, n: int) -> None:
        """Forget the last ``n`` committed tokens (generation stopped inside an accepted run)."""
        if n <= 0:
            return
        for layer in _layers(self.cache):
            layer.crop(-n)
        self.committed -= n
        self.mask[..., self.committed : self.committed + n] = self.min


def tree_mask(prefix: int, attend: list[list[int]], kv_length: int, dtype: torch.dtype, device: Any) -> torch.Tensor:
    """A ``[1, 1, n, kv_length]`` additive mask: row ``i`` sees the first ``prefix`` slots and ``attend[i]``.

    Used where the tree grows over several forwards (a draft model expanding it level by level), so that a new node
    attends to ancestors written by earlier forwards.
    """
    neg = torch.finfo(dtype).min
    mask = torch.full((1, 1, len(attend), kv_length), neg, dtype=dtype, device=device)
    mask[..., :prefix] = 0
    for row, slots in enumerate(attend):
        mask[0, 0, row, slots] = 0
    return mask
