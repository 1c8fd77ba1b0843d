"""The budgeted KV cache: a ``transformers.Cache`` whose layers hold at most ``budget`` tokens.

User call (nothing else changes; the model keeps its default ``sdpa`` attention)::

    cache = H2OCache(model.config, budget=0.2)
    model.generate(**inputs, cache=cache, max_new_tokens=64)  # past_key_values= before transformers 5.25

How the pieces fit
------------------
* :class:`BudgetedLayer` (a :class:`~transformers.cache_utils.DynamicLayer`) stores per layer, batch row and KV head
  the keys/values it keeps, their absolute positions, a pad flag, and method-defined accumulators. A method writes
  only :meth:`BudgetedLayer.score` (higher = keep) and, where the paper says so, :meth:`BudgetedLayer.accumulate`
  (statistics from the attention probabilities) or :meth:`BudgetedLayer.merge` (fold evicted tokens into kept ones).
  The base protects sink tokens (the first ``n_sink`` real tokens) and a recent window, never keeps pad tokens while
  a real token is left to keep, and evicts down to the budget after each attention call.
* **Attention statistics without eager attention.** ``update`` returns the keys through
  :func:`hf_tokens.attention.observe_keys`: transformers' sdpa attention hands the layer its
  :class:`~hf_tokens.attention.AttentionCall` (query, mask, probabilities on demand), and the layer runs the very
  same sdpa kernel on plain tensors (so a budget that covers everything gives DynamicCache's logits bit for bit).
  Probabilities are computed (float32) only for methods that score by attention. Nothing global is patched or
  registered. Other attention implementations (eager, flash, flex) never reach the layer; the next ``update`` then
  raises a ``RuntimeError`` that says to load the model with ``attn_implementation="sdpa"`` (the default).
* **Storage.** Every per-slot tensor lives in a preallocated buffer (:class:`~hf_tokens.cache.storage.SlotStore`);
  ``keys``/``values``/``positions``/... are views of its first ``stored`` slots, so a decoding step writes one slot
  instead of re-concatenating the cache. An evicting layer's buffer holds ``capacity + 1`` slots between steps.
* **Eviction.** After a one-token step exactly one slot is evicted (or none, when a ratio budget's capacity grows):
  the lowest score among the unprotected slots (one ``argmin``); the last slot moves into its place, so slots are
  no longer in position order. Every other case (prefill, several new tokens, pads still stored, budgets smaller
  than sinks + window) ranks all slots with :func:`tiered_topk` and compacts them in order. Both keep the same
  tokens: sinks, then the window, then the highest scores, pads last.
* **Positions and masks after eviction.** ``get_seq_length()`` counts every token seen, so generate's positions and
  RoPE stay right. ``get_mask_sizes`` returns ``kv_length = stored + new`` with ``kv_offset = seen - stored``: the
  stored slots are treated as the *last* ``stored`` positions of the sequence. New tokens are always appended last,
  which gives the exact causal pattern for several new tokens. While pads are stored, slots stay in position order
  and pads score ``-inf`` (they go first; every row evicts the same number), so the pads still stored in a
  left-padded row are exactly the first ``n_pad - evicted`` slots, where the shifted 2-D mask has its zeros. Once no
  pad is stored, every mask column over the stored slots is visible and their order does not matter.
* Budgets: a float in (0, 1] is a fraction of the tokens seen so far (each layer holds at most ``ceil(r * seen)``;
  ``budget=1.0`` never evicts), an int >= 1 an absolute number of tokens per layer, batch row and KV head. ``window``
  (the recent tokens always kept) is a fraction of the budget (float) or a count (int, only with an int budget).
  All rows of a batch hold the same number of slots, so with left padding a ratio budget counts the pad positions
  too (a padded row keeps a few more real tokens than it would alone); an int budget makes every row exactly equal
  to its own unpadded run.
* Works with greedy, sampling and beam search (``reorder_cache`` / ``batch_repeat_interleave`` gather every state
  tensor); ``crop`` (assisted decoding rollback) raises, since evicted tokens cannot be restored.
* Grouped-query attention: a KV head is shared by several query heads; statistics of a KV head sum over its query
  heads (the papers evaluate multi-head models, where the two coincide).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from transformers.cache_utils import Cache, DynamicLayer

from hf_tokens.attention.hooks import AttentionCall, observe_keys
from hf_tokens.cache.config import BudgetConfig, check_model_config
from hf_tokens.cache.storage import SlotStore


def tiered_topk(score: torch.Tensor, tier: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (sorted ascending) of the ``k`` best slots by ``tier`` first, then ``score`` (same leading shape)."""
    n = score.shape[-1]
    order = score.float().argsort(-1)
    rank = torch.empty_like(order).scatter_(-1, order, torch.arange(n, device=order.device).expand_as(order))
    keep = torch.topk(tier * (n + 1) + rank, k, dim=-1).indices
    return torch.sort(keep, dim=-1).values


class BudgetedLayer(DynamicLayer):
    """A DynamicLayer that evicts down to its budget after each attention call; subclasses write :meth:`score`.

    State (``S`` = stored tokens), all views of :attr:`store`: ``keys``/``values`` ``[B, H_kv, S, D]``,
    ``positions`` ``[B, H_kv, S]`` (absolute position of each slot), ``dead`` ``[B, H_kv, S]`` (pad tokens), plus
    the float32 accumulators named in ``extra_state`` (``[B, H_kv, S, *extra_shape(name)]``, zero for a new slot).
    A subclass updates them in place or assigns a tensor of the same shape (copied back into the buffer).
    """

    needs_probs: ClassVar[bool] = False
    merges: ClassVar[bool] = False  # True when merge() folds evicted tokens into kept ones
    extra_state: ClassVar[tuple[str, ...]] = ()
    is_croppable = False
    # Set by lazy_initialization (before any use); declared non-optional for the type checker.
    keys: torch.Tensor
    values: torch.Tensor
    positions: torch.Tensor
    dead: torch.Tensor

    def __init__(self, cache: BudgetedCache, layer_idx: int) -> None:
        super().__init__()
        self.cache = cache
        self.config = cache.budget_config
        self.layer_idx = layer_idx
        self.store = SlotStore(self, growth=self.growth)
        self.seen = 0
        self.new_tokens = 0
        self.pending = False
        self.has_dead = False
        self.peak_bytes = 0
        self.transient_peak_bytes = 0
        self.n_pad: torch.Tensor | None = None

    @staticmethod
    def growth(needed: int) -> int:
        """Spare slots allocated when the buffer grows. An evicting layer holds at most capacity + 1 slots, and a
        ratio budget's capacity grows by one every 1 / budget tokens: 8 spare slots spare a reallocation as often."""
        return 8

    def extra_shape(self, name: str) -> tuple[int, ...]:
        """Trailing shape of the accumulator ``name`` beyond ``[B, H_kv, S]``."""
        return ()

    # ---- transformers' layer API -------------------------------------------------------------------------------
    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        batch, heads, _, dim = key_states.shape
        device = key_states.device
        extras = {name: self.extra_shape(name) for name in self.extra_state}
        groups: dict[str, tuple[torch.dtype, dict[str, tuple[int, ...]]]] = {
            "kv": (key_states.dtype, {"keys": (dim,), "values": (value_states.shape[-1],)}),
            # positions as float32 (exact up to 2**24 tokens) beside the accumulators: one buffer to move per slot
            "meta": (torch.float32, {"positions": (), **extras}),
            "dead": (torch.bool, {"dead": ()}),
        }
        self.store.init(batch, heads, device, groups)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pending:
            raise RuntimeError(
                f"{type(self.cache).__name__} never saw the attention of the previous step (layer {self.layer_idx}): "
                "it reads the query from transformers' sdpa attention. Load the model with attn_implementation='sdpa' "
                "(the default) instead of eager/flash/flex attention."
            )
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        q_len = key_states.shape[-2]
        positions = self.seen if q_len == 1 else torch.arange(self.seen, self.seen + q_len, device=key_states.device)
        new = {"keys": key_states, "values": value_states, "positions": positions}
        # without pads every pad flag is False, spare slots included (buffers grow zero-filled; moves skip them)
        self.store.append(new, q_len, keep=() if self.has_dead else ("dead",))
        self.init_new_slots(key_states, value_states)
        self.seen += q_len
        self.new_tokens = q_len
        self.pending = True
        self.transient_peak_bytes = max(self.transient_peak_bytes, self.stored_bytes())
        return observe_keys(self.keys, self.attend, query_len=q_len), self.values

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        stored = self.stored_tokens()
        return stored + query_length, self.seen - stored

    def get_seq_length(self) -> int:
        return self.seen

    def get_max_length(self) -> int:
        return -1

    def reset(self) -> None:
        super().reset()
        self.store.clear()
        self.seen = 0
        self.new_tokens = 0
        self.pending = self.has_dead = False
        self.peak_bytes = self.transient_peak_bytes = 0
        self.n_pad = None

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError(f"{type(self.cache).__name__} evicts tokens and cannot be cropped (rolled back)")

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._batch_apply(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        self._batch_apply(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._batch_apply(lambda t: t[indices])

    def _batch_apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        if not self.is_initialized:
            return
        self.store.map(fn)
        for name in self.batch_state():
            value = getattr(self, name, None)
            if isinstance(value, torch.Tensor):
                setattr(self, name, fn(value))
        if self.n_pad is not None:
            self.n_pad = fn(self.n_pad)

    def batch_state(self) -> tuple[str, ...]:
        """Names of further batch-first tensors a subclass keeps (reordered with the batch)."""
        return ()

    # ---- bookkeeping -----------------------------------------------------------------------------------------
    def stored_tokens(self) -> int:
        return self.store.size if self.is_initialized else 0

    def stored_bytes(self) -> int:
        """Bytes of the key and value buffers (what the layer holds in memory, spare slots included)."""
        return self.store.allocated_bytes(("kv",)) if self.is_initialized else 0

    # ---- the hook: called from inside sdpa -------------------------------------------------------------------
    def attend(self, call: AttentionCall) -> Any:
        """Run the attention of this step and then evict; returns sdpa's output."""
        out = self.attention_output(call)
        self.observe_padding(call.mask)
        if self.needs_probs:  # in blocks of query rows: a long prefill never holds all its probabilities
            for rows in call.row_chunks():
                self.accumulate(call.probs(rows))
                self.store.adopt()
        self.pending = False
        self.compress()
        self.peak_bytes = max(self.peak_bytes, self.stored_bytes())
        return out

    def attention_output(self, call: AttentionCall) -> Any:
        return call.run()

    def observe_padding(self, mask: torch.Tensor | None) -> None:
        """Mark stored slots the last query cannot see as dead (left padding); remember each row's pad count."""
        batch = self.keys.shape[0]
        if mask is None:  # sdpa got no mask: every stored token is visible
            if self.n_pad is None:
                self.n_pad = torch.zeros(batch, dtype=torch.long, device=self.keys.device)
            return
        last = mask[:, 0, -1, :]  # [B or 1, S]
        hidden = ~last if last.dtype == torch.bool else last <= torch.finfo(last.dtype).min
        hidden = hidden.expand(batch, -1)
        if self.n_pad is None:
            self.n_pad = hidden.sum(-1)
        if bool(hidden.any()):
            self.dead |= hidden[:, None, :]
            self.has_dead = True

    def real_rank(self) -> torch.Tensor:
        """Index of each slot among its row's real tokens (position minus the row's left padding)."""
        n_pad = self.n_pad if self.n_pad is not None else torch.zeros(self.positions.shape[0], dtype=torch.long)
        return self.positions - n_pad.to(self.positions.device)[:, None, None]

    def tiers(self, window: int) -> torch.Tensor:
        """``[B, H_kv, S]`` eviction tiers: 2 sink, 1 recent window, 0 other, -1 pad."""
        tier = torch.zeros(self.positions.shape, dtype=torch.long, device=self.positions.device)
        if window > 0:
            tier = torch.where(self.positions >= self.seen - window, 1, tier)
        if self.config.n_sink:
            tier = torch.where(self.real_rank() < self.config.n_sink, 2, tier)
        return torch.where(self.dead, -1, tier) if self.has_dead else tier

    def compress(self) -> None:
        capacity = self.config.capacity(self.seen)
        stored = self.stored_tokens()
        if stored <= capacity:
            return
        window = self.config.resolve_window(capacity)
        score = self.score()
        if stored == capacity + 1 and not self.has_dead and self.config.n_sink + window < stored:
            self._evict_one(window, score)
        else:
            self._evict_ranked(window, score, capacity)

    def _evict_ranked(self, window: int, score: torch.Tensor, capacity: int) -> None:
        """Keep the ``capacity`` best slots by tier, then score (:func:`tiered_topk`), in slot order."""
        keep = tiered_topk(score, self.tiers(window), capacity)
        if self.merges:
            evicted = torch.ones_like(self.dead).scatter_(-1, keep, False)
            # every row and head evicts the same number: the indices of the evicted slots, in slot order
            order = torch.sort(evicted.to(torch.int8), dim=-1, descending=True, stable=True).indices
            self.merge(order[..., : self.stored_tokens() - capacity], keep, score)
            self.store.adopt()
        self.store.gather(keep)
        self.has_dead = self.has_dead and bool(self.dead.any())

    def _evict_one(self, window: int, score: torch.Tensor) -> None:
        """Evict the lowest-scoring unprotected slot of every row and head; the last slot takes its place."""
        protected = self.positions >= self.seen - window
        if self.config.n_sink:
            protected |= self.real_rank() < self.config.n_sink
        slot = score.float().masked_fill(protected, float("inf")).argmin(-1, keepdim=True)  # [B, H_kv, 1]
        if self.merges:
            self.merge(slot, None, score)
            self.store.adopt()
        self.store.swap_remove(slot, skip=() if self.has_dead else ("dead",))

    # ---- what a method writes ----------------------------------------------------------------------------------
    def score(self) -> torch.Tensor:
        """Importance of each stored slot, ``[B, H_kv, S]``; the ``capacity`` highest are kept."""
        raise NotImplementedError

    def accumulate(self, probs: torch.Tensor) -> None:
        """Update statistics from this step's attention probabilities ``[B, H_kv, G, q, S]`` (``needs_probs``).

        A long prefill arrives in consecutive blocks of query rows (``q`` is the block's length), in order.
        """

    def merge(self, evicted: torch.Tensor, keep: torch.Tensor | None, score: torch.Tensor) -> None:
        """Fold the slots ``evicted`` (``[B, H_kv, E]`` indices) into kept ones before they go (``merges=True``).

        ``keep`` holds the kept slots' indices ``[B, H_kv, C]``, or is ``None`` when every slot but the evicted
        ones is kept; ``score`` is this step's :meth:`score`. Write the kept slots' state in place
        (``self.values.scatter_(...)``) or assign same-shape tensors; the evicted slots are dropped afterwards.
        """

    def init_new_slots(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """Set the accumulators of the ``q`` tokens just stored (the last ``q`` slots; they start at zero)."""


class BudgetedCache(Cache):
    """A ``Cache`` of one :class:`BudgetedLayer` subclass per decoder layer (``layer_cls``)."""

    layer_cls: ClassVar[type[BudgetedLayer]] = BudgetedLayer
    config_cls: ClassVar[type[BudgetConfig]] = BudgetConfig

    def __init__(self, config: Any, config_obj: BudgetConfig | None = None, **kwargs: Any) -> None:
        check_model_config(config, type(self).__name__)
        if config_obj is not None and kwargs:
            raise ValueError(f"pass either a {self.config_cls.__name__} or keyword arguments, not both")
        if config_obj is None:
            config_obj = self.config_cls(**kwargs)
        elif not isinstance(config_obj, self.config_cls):
            raise TypeError(f"expected a {self.config_cls.__name__}, got {type(config_obj).__name__}")
        self.budget_config = config_obj
        self.model_config = config.get_text_config(decoder=True)
        self.setup()
        layers: list[Any] = [self.layer_cls(self, i) for i in range(self.model_config.num_hidden_layers)]
        super().__init__(layers=layers)

    def setup(self) -> None:
        """Validate method-specific settings against the model (before any layer exists)."""

    @property
    def peak_bytes(self) -> int:
        """Sum over layers of the most key+value bytes a layer held between forward calls (after eviction)."""
        return sum(getattr(layer, "peak_bytes", 0) for layer in self.layers)

    @property
    def transient_peak_bytes(self) -> int:
        """Like :attr:`peak_bytes` but inside a forward, before eviction: a prefill holds all its tokens briefly."""
        return sum(getattr(layer, "transient_peak_bytes", 0) for layer in self.layers)

    @property
    def stored_bytes(self) -> int:
        return sum(layer.stored_bytes() for layer in self.layers if isinstance(layer, BudgetedLayer))
