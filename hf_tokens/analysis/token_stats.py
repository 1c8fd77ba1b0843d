"""Per-token statistics of any Hugging Face causal LM: one batched, padding-aware API for analysis methods.

    stats = token_stats(model, tokenizer, ["text one", "text two"], logp_std=True, rank=True, topk=5)
    stats.logp, stats.entropy, stats.normalized_logp, stats.rank, stats.topk_ids    # [B, T] / [B, T, k]
    stats.nll()                                        # [B] summed NLL of the scored tokens
    stats.save("features.safetensors"); TokenStats.load("features.safetensors")

Position ``t`` of every ``[B, T]`` field describes the next-token distribution after tokens ``<= t``, scored against
the observed token ``t + 1`` (see :mod:`hf_tokens.analysis.token_stats_result` for the layout and helpers).

How: the model body runs once (:func:`~hf_tokens.analysis.lm_head.forward_hidden` captures the hidden states the
LM head receives and never lets it compute ``[B, T, V]`` logits); the hidden states of the scored positions alone then
go through the head chunked over the vocabulary: ``linear_log_probs`` / ``linear_log_probs_and_entropy`` of Cut
Cross-Entropy when only log-probs and entropies are asked for, ``linear_softmax_summary`` (the same chunked
reference, extended) for the rest. Memory beyond the model's own forward: the ``[B, T, H]`` hidden states, one block
of about 4M float32 logits at a time and the outputs; time: one body forward plus ``N x V x H`` multiply-adds for
``N`` scored positions (padding and context positions before ``continuation_start`` are not scored).

Left padding gets position ids counted from each row's first real token (as ``generate`` does), so a padded row
gives the statistics of the same text alone, up to float rounding. Gradients are not tracked (features, not losses).
"""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from hf_tokens._compat import cache_kwarg
from hf_tokens.analysis import token_batch
from hf_tokens.analysis.lm_head import LMHead, accepts, forward_hidden
from hf_tokens.analysis.token_stats_result import IGNORE, TokenStats

__all__ = ["TokenStats", "token_stats"]


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class _Options:
    """What to compute (validated)."""

    entropy: bool
    logp_std: bool
    rank: bool
    topk: int
    hidden_states: bool
    temperature: float

    @classmethod
    def checked(cls, vocab: int, **kw: Any) -> _Options:
        for name in ("entropy", "logp_std", "rank", "hidden_states"):
            _check_bool(name, kw[name])
        topk, temperature = kw["topk"], kw["temperature"]
        if isinstance(topk, bool) or not isinstance(topk, int) or not 0 <= topk <= vocab:
            raise ValueError(f"topk must be an int in [0, {vocab}] (0 = none), got {topk!r}")
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not math.isfinite(temperature)
        ):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        if temperature <= 0:
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        return cls(**{**kw, "entropy": kw["entropy"] or kw["logp_std"], "temperature": float(temperature)})

    @property
    def cheap(self) -> bool:
        """Only log-probs and entropies: Cut Cross-Entropy's own functions suffice."""
        return not (self.logp_std or self.rank or self.topk)


def _head_stats(
    head: LMHead, hidden: torch.Tensor, targets: torch.Tensor, opts: _Options, ref: tuple[LMHead, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """Statistics of ``N`` scored positions (``hidden [N, H]``, ``targets [N]``), chunked over the vocabulary."""
    from hf_tokens.ops.linear_cross_entropy import linear_log_probs, linear_log_probs_and_entropy
    from hf_tokens.ops.linear_cross_entropy.summary import linear_softmax_summary

    h, b = head.inputs(hidden)
    common: dict[str, Any] = {"bias": b, "softcap": head.softcap, "temperature": opts.temperature}
    if opts.cheap and ref is None:
        if opts.entropy:
            logp, ent = linear_log_probs_and_entropy(h, head.weight, targets, **common)
            return {"logp": logp, "entropy": ent}
        return {"logp": linear_log_probs(h, head.weight, targets, **common)}
    if ref is not None:
        ref_head, ref_hidden = ref
        hq, bq = ref_head.inputs(ref_hidden)
        common.update(ref_hidden=hq, ref_weight=ref_head.weight, ref_bias=bq, ref_softcap=ref_head.softcap)
    s = linear_softmax_summary(
        h, head.weight, targets, entropy=opts.entropy, variance=opts.logp_std, rank=opts.rank, topk=opts.topk, **common
    )
    out = {"logp": s.logp, "entropy": s.entropy, "rank": s.rank, "topk_ids": s.topk_ids, "topk_logp": s.topk_logp}
    out["logp_std"] = None if s.logp_var is None else s.logp_var.sqrt()
    out["cross_logp_mean"] = s.cross_mean
    out["cross_logp_std"] = None if s.cross_var is None else s.cross_var.sqrt()
    return {k: v for k, v in out.items() if v is not None}


def _model_inputs(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, cache: Any, position_ids: torch.Tensor | None
) -> dict[str, Any]:
    inputs: dict[str, Any] = {"input_ids": ids}
    if cache is not None:
        inputs.update({cache_kwarg(model): cache, "use_cache": True})
    else:
        inputs.update({"attention_mask": mask, "use_cache": False})
        if position_ids is None and accepts(model, "position_ids"):
            position_ids = (mask.cumsum(1) - 1).clamp_min(0)  # counted from each row's first real token
    if position_ids is not None:
        inputs["position_ids"] = position_ids
    device = model.get_input_embeddings().weight.device
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


def _run(
    model: Any,
    head: LMHead,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None],
    opts: _Options,
    reference: tuple[Any, LMHead] | None,
    cache: Any,
    position_ids: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """One batch -> ``[B, T]`` tensors on the head's device."""
    ids, mask, start, next_ids = batch
    scored, targets = token_batch.scored_positions(ids, mask, start, next_ids)
    inputs = _model_inputs(model, ids, mask, cache, position_ids)
    hidden = forward_hidden(model, head, **inputs)
    dev = hidden.device
    sel = scored.to(dev)
    ref = None
    if reference is not None:
        ref_model, ref_head = reference
        ref_hidden = forward_hidden(ref_model, ref_head, **_model_inputs(ref_model, ids, mask, None, None))
        ref = (ref_head, ref_hidden[sel.to(ref_hidden.device)].to(dev))
    values = _head_stats(head, hidden[sel], targets.to(dev)[sel], opts, ref)
    out = {"input_ids": ids.to(dev), "attention_mask": mask.to(dev), "target_ids": targets.to(dev), "mask": sel}
    for name, v in values.items():
        full = v.new_zeros((*sel.shape, *v.shape[1:]))
        full[sel] = v
        out[name] = full
    if opts.hidden_states:
        out["hidden_states"] = hidden.detach()
    return out


def _pad_cat(parts: list[dict[str, torch.Tensor]], side: str) -> dict[str, torch.Tensor]:
    """Concatenate batches along rows, padding their sequence dimension to the longest on ``side``."""
    width = max(p["input_ids"].shape[1] for p in parts)
    merged = {}
    for name in parts[0]:
        pieces = []
        for p in parts:
            x, extra = p[name], width - p[name].shape[1]
            if extra:
                fill = x.new_full((x.shape[0], extra, *x.shape[2:]), IGNORE if name == "target_ids" else 0)
                x = torch.cat([x, fill] if side == "right" else [fill, x], 1)
            pieces.append(x)
        merged[name] = torch.cat(pieces)
    return merged


def _name(obj: Any) -> str | None:
    return None if obj is None else str(getattr(obj, "name_or_path", "") or type(obj).__name__)


@torch.no_grad()
def token_stats(
    model: Any,
    tokenizer: Any = None,
    texts: Sequence[str] | None = None,
    *,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    continuation_start: int | Sequence[int] | torch.Tensor | None = None,
    next_ids: int | Sequence[int] | torch.Tensor | None = None,
    entropy: bool = True,
    logp_std: bool = False,
    rank: bool = False,
    topk: int = 0,
    hidden_states: bool = False,
    temperature: float = 1.0,
    reference_model: Any = None,
    add_special_tokens: bool = True,
    padding_side: str | None = None,
    batch_size: int | None = None,
    cache: Any = None,
    position_ids: torch.Tensor | None = None,
) -> TokenStats:
    """Per-token statistics of ``model`` on ``texts`` (tokenized by ``tokenizer``) or on ``input_ids``.

    Args:
        model: a transformers causal LM (or a PEFT model around one) whose head is a linear layer, optionally with
            a final logit softcap / constant logit scale (anything else is detected and refused).
        tokenizer: the model's tokenizer (needed for ``texts``; checked against the model's vocabulary).
        texts: non-empty strings of at least 2 tokens each; padded on ``padding_side`` (default: the tokenizer's).
        input_ids, attention_mask: ``[B, T]`` instead of texts; the mask marks real tokens (left or right padding).
        continuation_start: score only tokens at index ``>= continuation_start`` among each row's real tokens (an
            int or one per row; default 1 = every token after the first). ``nll()`` is then the continuation NLL.
        next_ids: one token per row that follows its last real token; scores the last position too (e.g. a token
            not fed yet, as a decoding loop with a cache does).
        entropy, logp_std, rank, topk, hidden_states: which statistics to compute (``logp`` always). ``logp_std``
            also fills ``entropy`` (its mean is ``-entropy``). Each costs a little more per vocabulary block.
        temperature: divides the (softcapped) logits before the softmax.
        reference_model: a second causal LM over the same vocabulary, run on the same ids: adds
            ``cross_logp_mean`` / ``cross_logp_std`` (mean and std of this model's ``log p(z)`` for ``z`` drawn
            from the reference's distribution; Binoculars: model = performer, reference = observer).
        add_special_tokens: passed to the tokenizer for ``texts``.
        batch_size: rows per forward (default: all at once); results are padded to one ``[B, T]``.
        cache, position_ids: a KV cache to read and extend (``input_ids`` of unpadded rows only, no
            ``attention_mask``), and explicit position ids (as a decoding loop with a cache needs them).

    Returns:
        :class:`TokenStats` on the model's head device; ``metadata`` names the model, tokenizer and options.
    """
    head = LMHead.of(model)
    vocab = head.vocab_size
    opts = _Options.checked(
        vocab, entropy=entropy, logp_std=logp_std, rank=rank, topk=topk, hidden_states=hidden_states,
        temperature=temperature,
    )  # fmt: skip
    side = padding_side or getattr(tokenizer, "padding_side", None) or "right"
    if side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {side!r}")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be None or an int >= 1, got {batch_size!r}")
    if tokenizer is not None:
        token_batch.check_tokenizer(tokenizer, vocab)
    reference = None
    if reference_model is not None:
        ref_head = LMHead.of(reference_model)
        if ref_head.vocab_size != vocab:
            raise ValueError(
                f"reference_model's head has {ref_head.vocab_size} outputs, the model's {vocab}: a reference must "
                "share the model's vocabulary"
            )
        reference = (reference_model, ref_head)
    if (texts is None) == (input_ids is None):
        raise ValueError("pass either texts (with a tokenizer) or input_ids, not both and not neither")
    exclusive = (texts, attention_mask, batch_size, reference_model)
    if (cache is not None or position_ids is not None) and any(x is not None for x in exclusive):
        raise ValueError(
            "cache / position_ids work with input_ids of unpadded rows only: no texts, attention_mask, "
            "batch_size or reference_model"
        )
    rows: list[list[int]] = []
    if texts is not None:
        if tokenizer is None:
            raise ValueError("texts need a tokenizer: token_stats(model, tokenizer, texts)")
        if attention_mask is not None:
            raise ValueError("attention_mask goes with input_ids; texts are padded here")
        rows = token_batch.encode(tokenizer, texts, _check_bool("add_special_tokens", add_special_tokens), vocab)
        lengths = torch.tensor([len(r) for r in rows])
        pad_id = next((p for p in (tokenizer.pad_token_id, tokenizer.eos_token_id) if p is not None), 0)
    else:
        ids_all, mask_all = token_batch.check_ids(input_ids, attention_mask, vocab)
        lengths = mask_all.sum(1)
        if position_ids is not None and (
            not isinstance(position_ids, torch.Tensor) or position_ids.shape[-1] != ids_all.shape[1]
        ):
            raise ValueError(f"position_ids must be a tensor [..., {ids_all.shape[1]}] (one per input position)")
    n_rows = len(lengths)
    start = token_batch.per_row("continuation_start", 1 if continuation_start is None else continuation_start, n_rows)
    nxt = None if next_ids is None else token_batch.per_row("next_ids", next_ids, n_rows)
    if nxt is not None and bool(((nxt < 0) | (nxt >= vocab)).any()):
        raise ValueError(f"next_ids must lie in [0, {vocab}), the model's vocabulary")
    token_batch.check_lengths(lengths, start, nxt is not None)

    step = batch_size or n_rows
    parts = []
    for r0 in range(0, n_rows, step):
        r1 = min(r0 + step, n_rows)
        ids, mask = token_batch.pad(rows[r0:r1], side, pad_id) if rows else (ids_all[r0:r1], mask_all[r0:r1])
        batch = (ids, mask, start[r0:r1], None if nxt is None else nxt[r0:r1])
        parts.append(_run(model, head, batch, opts, reference, cache, position_ids))
    metadata = {
        "model": _name(model),
        "model_class": type(model).__name__,
        "tokenizer": _name(tokenizer),
        "reference_model": _name(reference_model),
        "dtype": str(head.weight.dtype).removeprefix("torch."),
        "head": {"softcap": head.softcap, "scale": head.scale, "vocab_size": vocab},
        "options": {
            **asdict(opts),
            "continuation_start": 1 if continuation_start is None else start.tolist(),
            "next_ids": nxt is not None,
            "add_special_tokens": add_special_tokens if texts is not None else None,
            "padding_side": side,
            "batch_size": batch_size,
        },
    }
    merged = _pad_cat(parts, side) if len(parts) > 1 else parts[0]
    return TokenStats(**merged, metadata=metadata)  # type: ignore[arg-type]


class _CallableModule(types.ModuleType):
    """Once this module is imported, Python binds it to ``hf_tokens.analysis.token_stats`` (a package's submodule
    shadows the package attribute of the same name), so ``from hf_tokens.analysis import token_stats`` may return
    the module: calling it calls :func:`token_stats`, so both spellings work."""

    def __call__(self, *args: Any, **kwargs: Any) -> TokenStats:
        return token_stats(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
