"""Observe, and optionally replace, the attention call a tensor of keys enters, without patching anything global.

transformers' ``sdpa`` attention passes the keys a cache returns (possibly through ``repeat_kv``'s expand/reshape)
to ``torch.nn.functional.scaled_dot_product_attention``. :func:`observe_keys` wraps those keys in a zero-copy
``torch.Tensor`` subclass (:class:`TrackedKeys`) whose ``__torch_function__`` catches that one call and hands it to
a handler as an :class:`AttentionCall`: the query, the keys (as the cache stored them, before any repeat), the
mask, attention probabilities on demand, and :meth:`AttentionCall.run` to call the real sdpa, with other
keys/values/mask if the handler wants. Whatever the handler returns is the attention output the model sees::

    def handler(call: AttentionCall) -> torch.Tensor:
        probs = call.probs()  # [B, H_kv, G, q, S] float32, only computed when asked for
        return call.run()     # the very same sdpa kernel on plain tensors: bit-identical output

    keys = observe_keys(keys, handler, query_len=new_tokens)

Other attention implementations (eager, flash, flex) call other functions: the keys then act as plain tensors and
the handler is never called; the caller detects that (e.g. the budgeted caches raise at their next update).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["AttentionCall", "AttentionHandler", "TrackedKeys", "additive_mask", "attention_probs", "observe_keys"]

_SDPA = F.scaled_dot_product_attention
# Shape-only ops that repeat_kv and sdpa_attention_forward apply to the keys before sdpa: the result stays tracked.
_PASS_THROUGH = {
    torch.Tensor.__getitem__,
    torch.Tensor.expand,
    torch.Tensor.reshape,
    torch.Tensor.view,
    torch.Tensor.contiguous,
    torch.Tensor.repeat_interleave,
    torch.repeat_interleave,
}
_SAME: Any = object()  # AttentionCall.run: keep the call's own mask


class TrackedKeys(torch.Tensor):
    """Keys that route the ``scaled_dot_product_attention`` they enter to a handler (see :func:`observe_keys`)."""

    _handler: AttentionHandler
    _source: torch.Tensor
    _query_len: int

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        tracked = next((a for a in (*args, *kwargs.values()) if isinstance(a, TrackedKeys)), None)
        if func is _SDPA and tracked is not None:
            plain_args = [_plain(a) for a in args]
            call = AttentionCall(
                plain_args, {k: _plain(v) for k, v in kwargs.items()}, tracked._source, tracked._query_len
            )
            return tracked._handler(call)
        with torch._C.DisableTorchFunctionSubclass():  # every other function sees plain tensors
            out = func(*args, **kwargs)
        if tracked is not None and func in _PASS_THROUGH and isinstance(out, torch.Tensor):
            return _wrap(out, tracked._handler, tracked._source, tracked._query_len)
        return out


AttentionHandler = Callable[["AttentionCall"], Any]


def observe_keys(keys: torch.Tensor, handler: AttentionHandler, *, query_len: int) -> torch.Tensor:
    """``keys`` (``[B, H_kv, S, D]``) as a tracked view: the sdpa call they enter goes to ``handler(call)``.

    ``query_len`` is the number of query tokens of that call (the tokens just added to the cache); it tells the
    call how to read transformers' packed single-token query layout. No data is copied.
    """
    if not isinstance(keys, torch.Tensor) or keys.dim() != 4:
        raise TypeError(
            f"keys must be a [B, H_kv, S, D] tensor, got {type(keys).__name__} {getattr(keys, 'shape', '')}"
        )
    if not callable(handler):
        raise TypeError(f"handler must be callable (AttentionCall -> output), got {type(handler).__name__}")
    if isinstance(query_len, bool) or not isinstance(query_len, int) or query_len < 1:
        raise ValueError(f"query_len must be an int >= 1, got {query_len!r}")
    source = _plain(keys)
    return _wrap(source, handler, source, query_len)


def _wrap(tensor: torch.Tensor, handler: AttentionHandler, source: torch.Tensor, query_len: int) -> TrackedKeys:
    out = torch.Tensor._make_subclass(TrackedKeys, tensor)
    out._handler, out._source, out._query_len = handler, source, query_len
    return out


def _plain(x: Any) -> Any:
    if isinstance(x, TrackedKeys):
        with torch._C.DisableTorchFunctionSubclass():
            return x.as_subclass(torch.Tensor)
    return x


class AttentionCall:
    """One intercepted ``scaled_dot_product_attention`` call, in whichever layout transformers used.

    ``query`` is sdpa's query argument: ``[B, H, q, D]``, or for one query token with grouped-query attention the
    packed ``[B, H_kv, G, D]``; :meth:`grouped_query` gives ``[B, H_kv, G, q, D]`` in every case (the query heads of
    a KV group are contiguous). ``keys`` are the keys as observed (``[B, H_kv, S, D]``, before any ``repeat_kv``);
    ``key``/``value`` are sdpa's own arguments (possibly repeated to ``H`` heads).
    """

    def __init__(self, args: list[Any], kwargs: dict[str, Any], keys: torch.Tensor, query_len: int) -> None:
        self.args, self.kwargs, self.keys, self.query_len = args, kwargs, keys, query_len
        self._probs: torch.Tensor | None = None
        self._mask: torch.Tensor | None = None

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if len(self.args) > index:
            return self.args[index]
        return self.kwargs.get(name, default)

    @property
    def query(self) -> torch.Tensor:
        return self.arg(0, "query")

    @property
    def key(self) -> torch.Tensor:
        return self.arg(1, "key")

    @property
    def value(self) -> torch.Tensor:
        return self.arg(2, "value")

    @property
    def mask(self) -> torch.Tensor | None:
        """sdpa's ``attn_mask`` as given: ``None``, bool (True = visible) or additive float."""
        return self.arg(3, "attn_mask")

    @property
    def is_causal(self) -> bool:
        return bool(self.arg(5, "is_causal", False))

    @property
    def scale(self) -> float:
        scale = self.arg(6, "scale")
        return float(scale) if scale is not None else self.keys.shape[-1] ** -0.5

    def grouped_query(self) -> torch.Tensor:
        """The query as ``[B, H_kv, G, q, D]``."""
        batch, n_kv, _, dim = self.keys.shape
        return self.query.reshape(batch, n_kv, -1, self.query_len, dim)

    def additive_mask(self, rows: slice = slice(None)) -> torch.Tensor:
        """The mask of query rows ``rows`` as float32 ``[B or 1, 1, q_rows, S]`` (0 visible, -inf hidden)."""
        if rows == slice(None):
            if self._mask is None:
                self._mask = additive_mask(self, self.query_len, self.keys.shape[-2])
            return self._mask
        return additive_mask(self, self.query_len, self.keys.shape[-2], rows)

    def probs(self, rows: slice = slice(None)) -> torch.Tensor:
        """Softmax attention probabilities ``[B, H_kv, G, q_rows, S]`` in float32 of the query rows ``rows``.

        The probabilities of all rows are computed once per call and kept; :meth:`row_chunks` splits a long
        prefill into blocks of rows whose probabilities fit in a bounded amount of memory.
        """
        full = rows == slice(None)
        if full and self._probs is not None:
            return self._probs
        # decoding without padding: sdpa got no mask and every stored key is visible, so no mask is added
        plain = self.mask is None and (self.query_len == 1 or not self.is_causal)
        mask = None if plain else self.additive_mask(rows)
        query = self.grouped_query() if full else self.grouped_query()[:, :, :, rows]
        probs = attention_probs(query, self.keys, mask, self.scale)
        if full:
            self._probs = probs
        return probs

    def row_chunks(self, max_elements: int = 2**25) -> list[slice]:
        """Blocks of query rows whose probabilities hold at most ``max_elements`` floats each (at least one row)."""
        if self.query_len == 1:
            return [slice(None)]
        batch, _, seq, dim = self.keys.shape
        heads = self.query.numel() // (batch * self.query_len * dim)
        step = max(1, max_elements // max(1, batch * heads * seq))
        return [slice(i, min(i + step, self.query_len)) for i in range(0, self.query_len, step)]

    def run(self, key: torch.Tensor | None = None, value: torch.Tensor | None = None, mask: Any = _SAME) -> Any:
        """Call the real sdpa, optionally with other keys/values/mask (same layouts as the original call)."""
        args = list(self.args)
        kwargs = dict(self.kwargs)
        for index, name, new, keep in (
            (1, "key", key, None),
            (2, "value", value, None),
            (3, "attn_mask", mask, _SAME),
        ):
            if new is keep:
                continue
            if len(args) > index:
                args[index] = new
            else:
                kwargs[name] = new
        with torch._C.DisableTorchFunctionSubclass():
            return _SDPA(*args, **kwargs)


def additive_mask(call: AttentionCall, q_len: int, kv_len: int, rows: slice = slice(None)) -> torch.Tensor:
    """``call``'s mask as float32 ``[B or 1, 1, q, S]`` (0 visible, -inf hidden), or only its query ``rows``.

    Causal (bottom-right aligned) when the call had no mask and ``is_causal``; all visible otherwise.
    """
    mask = call.mask
    device = call.query.device
    if mask is None:
        i = torch.arange(q_len, device=device)[rows][:, None]
        if q_len == 1 or not call.is_causal:
            return torch.zeros(1, 1, i.shape[0], kv_len, device=device)
        visible = torch.arange(kv_len, device=device)[None, :] <= i + (kv_len - q_len)
        return torch.zeros(1, 1, i.shape[0], kv_len, device=device).masked_fill(~visible, float("-inf"))
    mask = mask[:, :1]
    if mask.shape[-2] != q_len:  # a packed single-query mask is [B, 1, 1, S]
        mask = mask[..., -1:, :].expand(-1, -1, q_len, -1)
    mask = mask[:, :, rows]
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, device=device).masked_fill(~mask, float("-inf"))
    return mask.float().masked_fill(mask <= torch.finfo(mask.dtype).min, float("-inf"))


def attention_probs(query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None, scale: float) -> torch.Tensor:
    """Softmax attention probabilities ``[B, H_kv, G, q, S]`` in float32 (rows with no visible key are zero).

    ``query`` is grouped ``[B, H_kv, G, q, D]`` (see :meth:`AttentionCall.grouped_query`), ``keys``
    ``[B, H_kv, S, D]``, ``mask`` additive ``[B or 1, 1, q, S]`` or ``None`` (every key visible to every query).
    """
    batch, n_kv, groups, q_len, dim = query.shape
    seq = keys.shape[2]
    q = query.reshape(batch * n_kv, groups * q_len, dim).float()
    k = keys.float().reshape(batch * n_kv, seq, dim)
    logits = torch.baddbmm(_zero(q.device), q, k.transpose(-1, -2), beta=0.0, alpha=scale)  # scale * q.k
    logits = logits.view(batch, n_kv, groups, q_len, seq)
    if mask is None:
        return torch.softmax(logits, dim=-1)
    logits = logits + mask.unsqueeze(1)
    return torch.softmax(logits, dim=-1).nan_to_num_(0.0)


@functools.cache
def _zero(device: torch.device) -> torch.Tensor:
    """A float32 zero to broadcast as ``baddbmm``'s ignored input (``beta=0``)."""
    return torch.zeros(1, device=device)
