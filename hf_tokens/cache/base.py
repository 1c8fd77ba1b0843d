"""Shared machinery of the budgeted KV caches: a ``transformers.Cache`` whose layers hold at most ``budget`` tokens.

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
* **Attention statistics without eager attention.** ``update`` returns the keys as a :class:`TrackedKeys` tensor (a
  zero-copy ``torch.Tensor`` subclass that knows its cache layer). transformers' ``sdpa`` attention passes them,
  possibly through ``repeat_kv``'s expand/reshape, to ``torch.nn.functional.scaled_dot_product_attention``; the
  subclass's ``__torch_function__`` catches that one call and hands the query, the mask and the real sdpa function to
  the layer (:meth:`BudgetedLayer.attend`). The layer runs the very same sdpa kernel on plain tensors (so a budget
  that covers everything gives DynamicCache's logits bit for bit), and computes the attention probabilities in
  float32 only for methods that score by attention. Selection methods (TokenSelect, TidalDecode) instead run sdpa on
  the gathered subset of keys. Nothing global is patched or registered: the hook lives on tensors this cache returns.
  Other attention implementations (eager, flash, flex) call other functions; the keys then act as plain tensors, the
  layer never sees the query, and the next ``update`` raises a ``RuntimeError`` that says to load the model with
  ``attn_implementation="sdpa"`` (the default), instead of silently skipping the method.
* **Positions and masks after eviction.** ``get_seq_length()`` counts every token seen, so generate's positions and
  RoPE stay right. ``get_mask_sizes`` returns ``kv_length = stored + new`` with ``kv_offset = seen - stored``: the
  stored slots are treated as the *last* ``stored`` positions of the sequence. That gives the exact causal pattern
  for several new tokens, and it reads the padding entries of generate's 2-D attention mask at the right places as
  long as the layout below holds. Slots are always kept sorted by position; pad tokens score ``-inf`` and go first;
  every row evicts the same number of tokens; so the pads still stored in a left-padded row are exactly the first
  ``n_pad - evicted`` slots, which is where the shifted 2-D mask has its zeros.
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

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from transformers.cache_utils import Cache, DynamicLayer

SUPPORTED_MODEL_TYPES = ("llama", "qwen2", "qwen3", "mistral")

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


class TrackedKeys(torch.Tensor):
    """Keys returned by a budgeted layer: a plain tensor that routes the ``scaled_dot_product_attention`` it enters
    back to its layer (see the module docstring). Created by ``_make_subclass`` (no copy)."""

    _layer: BudgetedLayer

    @staticmethod
    def wrap(tensor: torch.Tensor, layer: BudgetedLayer) -> TrackedKeys:
        out = torch.Tensor._make_subclass(TrackedKeys, tensor)
        out._layer = layer
        return out

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Sequence[Any] = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        layer = next((a._layer for a in (*args, *kwargs.values()) if isinstance(a, TrackedKeys)), None)
        plain_args = [_plain(a) for a in args]
        plain_kwargs = {k: _plain(v) for k, v in kwargs.items()}
        if func is _SDPA and layer is not None:
            return layer.attend(plain_args, plain_kwargs)
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*plain_args, **plain_kwargs)
        if func in _PASS_THROUGH and isinstance(out, torch.Tensor) and layer is not None:
            return TrackedKeys.wrap(out, layer)
        return out


def _plain(x: Any) -> Any:
    if isinstance(x, TrackedKeys):
        with torch._C.DisableTorchFunctionSubclass():
            return x.as_subclass(torch.Tensor)
    return x


@dataclasses.dataclass
class SdpaCall:
    """One intercepted ``scaled_dot_product_attention`` call, in the layouts transformers may use."""

    args: list[Any]
    kwargs: dict[str, Any]

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if len(self.args) > index:
            return self.args[index]
        return self.kwargs.get(name, default)

    @property
    def query(self) -> torch.Tensor:
        return self.arg(0, "query")

    @property
    def mask(self) -> torch.Tensor | None:
        return self.arg(3, "attn_mask")

    def run(self, key: torch.Tensor | None = None, value: torch.Tensor | None = None, mask: Any = "same") -> Any:
        """Call the real sdpa, optionally with other keys/values/mask (same layouts as the original call)."""
        args = list(self.args)
        kwargs = dict(self.kwargs)
        for index, name, new in ((1, "key", key), (2, "value", value), (3, "attn_mask", mask)):
            if (new is None and name != "attn_mask") or (name == "attn_mask" and isinstance(new, str)):
                continue
            if len(args) > index:
                args[index] = new
            else:
                kwargs[name] = new
        with torch._C.DisableTorchFunctionSubclass():
            return _SDPA(*args, **kwargs)


def additive_mask(call: SdpaCall, q_len: int, kv_len: int) -> torch.Tensor:
    """The call's mask as float32 ``[B or 1, 1, q, S]`` (0 visible, -inf hidden); causal when the call had none."""
    mask = call.mask
    device = call.query.device
    if mask is None:
        if q_len == 1 or not call.kwargs.get("is_causal", False):
            return torch.zeros(1, 1, q_len, kv_len, device=device)
        i = torch.arange(q_len, device=device)[:, None]
        j = torch.arange(kv_len, device=device)[None, :]
        visible = j <= i + (kv_len - q_len)
        return torch.zeros(1, 1, q_len, kv_len, device=device).masked_fill(~visible, float("-inf"))
    mask = mask[:, :1]
    if mask.shape[-2] != q_len:  # a packed single-query mask is [B, 1, 1, S]
        mask = mask[..., -1:, :].expand(-1, -1, q_len, -1)
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, device=device).masked_fill(~mask, float("-inf"))
    return mask.float().masked_fill(mask <= torch.finfo(mask.dtype).min, float("-inf"))


def attention_probs(
    query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor, scale: float, q_len: int
) -> torch.Tensor:
    """Softmax attention probabilities ``[B, H_kv, G, q, S]`` in float32 (rows with no visible key are zero).

    ``query`` is ``[B, H, q, D]`` or sdpa_attention_forward's packed ``[B, H_kv, G, D]`` (one query token); both
    reshape to ``[B, H_kv, G, q, D]`` because the query heads of a KV group are contiguous.
    """
    batch, n_kv, _, dim = keys.shape
    q = query.reshape(batch, n_kv, -1, q_len, dim).float()
    logits = torch.einsum("bhgqd,bhsd->bhgqs", q, keys.float()) * scale
    logits = logits + mask.unsqueeze(1)
    return torch.softmax(logits, dim=-1).nan_to_num(0.0)


def _is_ratio(value: Any) -> bool:
    return isinstance(value, float)


@dataclasses.dataclass
class BudgetConfig:
    """Budget, recent window and sink tokens shared by every cache here (validated before any work)."""

    budget: float | int = dataclasses.field(
        default=0.2,
        metadata={"help": "float in (0, 1]: fraction of the tokens seen kept per layer; int >= 1: tokens per layer"},
    )
    window: float | int = dataclasses.field(
        default=0.0,
        metadata={"help": "recent tokens always kept: float = fraction of the budget, int = count (int budget only)"},
    )
    n_sink: int = dataclasses.field(default=0, metadata={"help": "first real tokens always kept (attention sinks)"})

    def __post_init__(self) -> None:
        if isinstance(self.budget, bool) or not isinstance(self.budget, (int, float)):
            raise TypeError(f"budget must be a float ratio in (0, 1] or an int >= 1, got {self.budget!r}")
        if _is_ratio(self.budget) and not 0.0 < self.budget <= 1.0:
            raise ValueError(f"budget as a ratio must be in (0, 1], got {self.budget}; pass an int for a token count")
        if isinstance(self.budget, int) and self.budget < 1:
            raise ValueError(f"budget as a token count must be >= 1, got {self.budget}")
        if isinstance(self.window, bool) or not isinstance(self.window, (int, float)):
            raise TypeError(f"window must be a float fraction of the budget or an int count, got {self.window!r}")
        if _is_ratio(self.window):
            if not 0.0 <= self.window <= 1.0:
                raise ValueError(f"window as a fraction of the budget must be in [0, 1], got {self.window}")
        else:
            if self.window < 0:
                raise ValueError(f"window must be >= 0, got {self.window}")
            if _is_ratio(self.budget):
                raise ValueError(
                    f"window={self.window} is a token count but budget={self.budget} is a ratio; give window as a "
                    "fraction of the budget (float) or budget as a token count (int)"
                )
            if self.window > self.budget:
                raise ValueError(f"window ({self.window}) must not be larger than budget ({self.budget})")
        if isinstance(self.n_sink, bool) or not isinstance(self.n_sink, int) or self.n_sink < 0:
            raise ValueError(f"n_sink must be an int >= 0, got {self.n_sink!r}")
        if isinstance(self.budget, int) and self.n_sink + self.resolve_window(self.budget) > self.budget:
            raise ValueError(
                f"n_sink ({self.n_sink}) + window ({self.resolve_window(self.budget)}) must not exceed budget "
                f"({self.budget})"
            )

    def capacity(self, seen: int) -> int:
        """Tokens a layer may hold after seeing ``seen`` tokens."""
        if _is_ratio(self.budget):
            return max(1, math.ceil(self.budget * seen - 1e-9))
        return int(self.budget)

    def resolve_window(self, capacity: int) -> int:
        if _is_ratio(self.window):
            return int(self.window * capacity)
        return int(self.window)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Batch-first per-layer state tensors that follow reorder_cache / batch selection / eviction gathers.
_TOKEN_STATE = ("keys", "values", "positions", "dead")


class BudgetedLayer(DynamicLayer):
    """A DynamicLayer that evicts down to its budget after each attention call; subclasses write :meth:`score`.

    State (``S`` = stored tokens): ``keys``/``values`` ``[B, H_kv, S, D]``, ``positions`` ``[B, H_kv, S]`` (absolute
    position of each slot), ``dead`` ``[B, H_kv, S]`` (pad tokens), plus the float accumulators named in
    ``extra_state`` (``[B, H_kv, S]`` or ``[B, H_kv, S, W]``), gathered with the tokens.
    """

    needs_probs: ClassVar[bool] = False
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
        self.seen = 0
        self.new_tokens = 0
        self.pending = False
        self.peak_bytes = 0
        self.transient_peak_bytes = 0
        self.n_pad: torch.Tensor | None = None

    # ---- transformers' layer API -------------------------------------------------------------------------------
    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        batch, heads = key_states.shape[:2]
        self.keys = key_states.new_zeros(batch, heads, 0, key_states.shape[-1])
        self.values = value_states.new_zeros(batch, heads, 0, value_states.shape[-1])
        self.positions = torch.zeros(batch, heads, 0, dtype=torch.long, device=key_states.device)
        self.dead = torch.zeros(batch, heads, 0, dtype=torch.bool, device=key_states.device)
        for name in self.extra_state:
            setattr(self, name, torch.zeros(batch, heads, 0, device=key_states.device))

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
        batch, heads, q_len = key_states.shape[:3]
        new_pos = torch.arange(self.seen, self.seen + q_len, device=key_states.device)
        self.keys = torch.cat([self.keys, key_states], dim=-2)
        self.values = torch.cat([self.values, value_states], dim=-2)
        self.positions = torch.cat([self.positions, new_pos.expand(batch, heads, q_len)], dim=-1)
        self.dead = torch.cat([self.dead, self.dead.new_zeros(batch, heads, q_len)], dim=-1)
        for name in self.extra_state:  # [B, H_kv, S, *rest]: new slots start at zero
            old = getattr(self, name)
            setattr(self, name, torch.cat([old, old.new_zeros(batch, heads, q_len, *old.shape[3:])], dim=2))
        self.seen += q_len
        self.new_tokens = q_len
        self.pending = True
        self.transient_peak_bytes = max(self.transient_peak_bytes, self.stored_bytes())
        return TrackedKeys.wrap(self.keys, self), self.values

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        stored = self.stored_tokens()
        return stored + query_length, self.seen - stored

    def get_seq_length(self) -> int:
        return self.seen

    def get_max_length(self) -> int:
        return -1

    def reset(self) -> None:
        super().reset()
        self.seen = 0
        self.new_tokens = 0
        self.pending = False
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
        for name in (*_TOKEN_STATE, *self.extra_state, *self.batch_state()):
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
        return 0 if self.keys is None or not self.is_initialized else int(self.keys.shape[-2])

    def stored_bytes(self) -> int:
        if self.keys is None or self.values is None or not self.is_initialized:
            return 0
        return self.keys.numel() * self.keys.element_size() + self.values.numel() * self.values.element_size()

    # ---- the hook: called from inside sdpa -------------------------------------------------------------------
    def attend(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run the attention of this step and then evict; returns sdpa's output."""
        call = SdpaCall(args, kwargs)
        out = self.attention_output(call)
        q_len = self.new_tokens
        mask = additive_mask(call, q_len, self.stored_tokens())
        self.observe_padding(mask)
        if self.needs_probs:
            probs = attention_probs(call.query, self.keys, mask, self._scale(call), q_len)
            self.accumulate(probs)
        self.pending = False
        self.compress()
        self.peak_bytes = max(self.peak_bytes, self.stored_bytes())
        return out

    def attention_output(self, call: SdpaCall) -> Any:
        return call.run()

    def _scale(self, call: SdpaCall) -> float:
        scale = call.kwargs.get("scale")
        return float(scale) if scale is not None else self.keys.shape[-1] ** -0.5

    def observe_padding(self, mask: torch.Tensor) -> None:
        """Mark stored slots the last query cannot see as dead (left padding); remember each row's pad count."""
        hidden = torch.isinf(mask[:, 0, -1, :]) & (mask[:, 0, -1, :] < 0)  # [B or 1, S]
        hidden = hidden.expand(self.keys.shape[0], -1)
        self.dead = self.dead | hidden[:, None, :].expand_as(self.dead)
        if self.n_pad is None:
            self.n_pad = hidden.sum(-1)

    def real_rank(self) -> torch.Tensor:
        """Index of each slot among its row's real tokens (position minus the row's left padding)."""
        n_pad = self.n_pad if self.n_pad is not None else torch.zeros(self.positions.shape[0], dtype=torch.long)
        return self.positions - n_pad.to(self.positions.device)[:, None, None]

    def compress(self) -> None:
        capacity = self.config.capacity(self.seen)
        stored = self.stored_tokens()
        if stored <= capacity:
            return
        window = self.config.resolve_window(capacity)
        # Keep order: sink tokens, then the recent window, then the method's score; pads always last. The tiers are
        # combined with the score's rank into one integer key so that ties inside a tier follow the score.
        tier = torch.zeros_like(self.positions)
        if window > 0:
            tier = torch.where(self.positions >= self.seen - window, 1, tier)
        tier = torch.where(self.real_rank() < self.config.n_sink, 2, tier)
        tier = torch.where(self.dead, -1, tier)
        rank = self.score().float().argsort(-1).argsort(-1)
        key = tier * (stored + 1) + rank
        keep = torch.topk(key, capacity, dim=-1).indices
        keep = torch.sort(keep, dim=-1).values  # slots are stored in position order; sorted slots keep that order
        evicted = torch.ones_like(self.dead).scatter(-1, keep, False)
        self.merge(keep, evicted)
        self._gather(keep)

    def _gather(self, keep: torch.Tensor) -> None:
        for name in (*_TOKEN_STATE, *self.extra_state):
            value = getattr(self, name)
            index = keep if value.dim() == 3 else keep[..., None].expand(*keep.shape, value.shape[-1])
            setattr(self, name, torch.gather(value, 2, index))

    # ---- what a method writes ----------------------------------------------------------------------------------
    def score(self) -> torch.Tensor:
        """Importance of each stored slot, ``[B, H_kv, S]``; the ``capacity`` highest are kept."""
        raise NotImplementedError

    def accumulate(self, probs: torch.Tensor) -> None:
        """Update statistics from this step's attention probabilities ``[B, H_kv, G, q, S]`` (``needs_probs``)."""

    def merge(self, keep: torch.Tensor, evicted: torch.Tensor) -> None:
        """Fold evicted slots (``evicted`` ``[B, H_kv, S]`` bool) into kept ones before the gather (optional)."""


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


def check_model_config(config: Any, owner: str) -> None:
    """Raise ValueError unless ``config`` is a decoder of a supported family with full attention in every layer."""
    if not hasattr(config, "get_text_config"):
        raise TypeError(f"{owner}: config must be a transformers PretrainedConfig (model.config), got {config!r}")
    text = config.get_text_config(decoder=True)
    model_type = getattr(text, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"{owner}: config.model_type={model_type!r} is not supported; supported: {SUPPORTED_MODEL_TYPES}"
        )
    impl = getattr(text, "_attn_implementation", None)
    if impl not in (None, "sdpa"):
        raise ValueError(
            f"{owner}: the model uses attn_implementation={impl!r}; these caches read the query from transformers' "
            "sdpa attention: load the model with attn_implementation='sdpa' (the default)"
        )
    layer_types = getattr(text, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types) or (
        getattr(text, "sliding_window", None) and getattr(text, "use_sliding_window", True)
    ):
        raise ValueError(
            f"{owner}: config uses sliding-window attention layers (layer_types={layer_types}, sliding_window="
            f"{getattr(text, 'sliding_window', None)}); only full-attention models are supported"
        )


def tiered_topk(score: torch.Tensor, tier: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (sorted ascending) of the ``k`` best slots by ``tier`` first, then ``score`` (same leading shape)."""
    n = score.shape[-1]
    rank = score.float().argsort(-1).argsort(-1)
    keep = torch.topk(tier * (n + 1) + rank, k, dim=-1).indices
    return torch.sort(keep, dim=-1).values


class SelectionLayer(BudgetedLayer):
    """A layer that keeps every token and lets each decoding query attend to ``capacity`` selected tokens.

    Used by TokenSelect and TidalDecode: ``compress`` never evicts; :meth:`select` returns ``[B, k]`` slot indices
    (shared by all heads) or ``None`` for dense attention; the base runs sdpa on the gathered keys, values and mask.
    """

    def compress(self) -> None:
        return None

    def attention_output(self, call: SdpaCall) -> Any:
        self.last_attended = self.stored_tokens()
        if self.new_tokens != 1 or self.stored_tokens() <= self.config.capacity(self.seen):
            return call.run()
        indices = self.select(call)
        if indices is None:
            return call.run()
        self.last_attended = int(indices.shape[-1])
        return self.sparse_attention(call, indices)

    def select(self, call: SdpaCall) -> torch.Tensor | None:
        raise NotImplementedError

    def selection_tiers(self) -> torch.Tensor:
        """``[B, S]`` tiers: 2 sink, 1 recent window (always includes the new token), 0 other, -1 pad."""
        positions, dead = self.positions[:, 0], self.dead[:, 0]
        window = max(1, self.config.resolve_window(self.config.capacity(self.seen)))
        tier = torch.where(positions >= self.seen - window, 1, torch.zeros_like(positions))
        tier = torch.where(self.real_rank()[:, 0] < self.config.n_sink, 2, tier)
        return torch.where(dead, -1, tier)

    def sparse_attention(self, call: SdpaCall, indices: torch.Tensor) -> Any:
        key, value, mask = call.arg(1, "key"), call.arg(2, "value"), call.mask
        idx = indices[:, None, :, None]
        key = torch.gather(key, 2, idx.expand(key.shape[0], key.shape[1], -1, key.shape[-1]))
        value = torch.gather(value, 2, idx.expand(value.shape[0], value.shape[1], -1, value.shape[-1]))
        if mask is not None:
            mask = torch.gather(
                mask, -1, indices[:, None, None, :].expand(mask.shape[0], mask.shape[1], mask.shape[2], -1)
            )
        return call.run(key, value, mask)
