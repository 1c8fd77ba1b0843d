"""Public functions: cross-entropy, per-token log-probs and entropies of ``hidden @ weight.T`` without the logits.

All three run on one autograd function (``reference.LinearSoftmaxStats`` or its Triton twin) that returns per-token
``log p(target)`` and entropy, so none of them ever holds the ``[tokens x vocab]`` logits, in forward or backward.
Inputs are validated before any work; a bad argument raises ``ValueError``/``TypeError`` naming it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import torch

from hf_tokens.ops.linear_cross_entropy import fused_loss, reference

IMPLS = ("reference", "triton")
REDUCTIONS = ("mean", "sum", "none")


def _check_impl(impl: str | None, hidden: torch.Tensor) -> str:
    if impl is None:
        if hidden.is_cuda:
            try:
                import triton
            except ImportError:
                return "reference"
            return "triton"
        return "reference"
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS} or None (automatic), got {impl!r}")
    if impl == "triton":
        try:
            import triton  # noqa: F401
        except ImportError as exc:
            raise ValueError("impl='triton' needs the triton package (pip install 'hf-tokens[triton]')") from exc
        if not hidden.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
            raise ValueError(
                "impl='triton' needs CUDA tensors, or TRITON_INTERPRET=1 set before triton is imported to run the "
                "kernel on CPU (slow, for tests); use impl='reference' on CPU"
            )
    return impl


def _stats_fn(impl: str) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    if impl == "triton":
        from hf_tokens.ops.linear_cross_entropy import triton as triton_impl

        return triton_impl.linear_softmax_stats
    return reference.linear_softmax_stats


def _fused_loss_applies(impl: str, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> bool:
    """The reference path forms a reduced loss's gradients in its forward (``fused_loss``) for float32 inputs when a
    gradient will be asked for; otherwise (no gradient, other dtypes) it runs the forward-only/recompute path."""
    if impl != "reference" or weight.dtype != torch.float32 or not torch.is_grad_enabled():
        return False
    return hidden.requires_grad or weight.requires_grad or (bias is not None and bias.requires_grad)


def _positive_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def _check_common(
    hidden: Any,
    weight: Any,
    bias: Any,
    softcap: Any,
    temperature: Any,
) -> None:
    """Type, dtype, shape and device checks shared by the three functions."""
    for name, t in (("hidden", hidden), ("weight", weight)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor (float32, bfloat16 or float16), got {t.dtype}")
    if hidden.dim() < 1:
        raise ValueError("hidden must have shape [..., H]; got a 0-d tensor")
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape [V, H] (the lm_head weight), got shape {tuple(weight.shape)}")
    if hidden.dtype != weight.dtype:
        raise TypeError(
            f"hidden and weight must have the same dtype, got hidden {hidden.dtype} and weight {weight.dtype}; "
            "cast one of them (e.g. hidden.to(weight.dtype))"
        )
    if hidden.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"hidden's last dimension ({hidden.shape[-1]}) must equal weight's second dimension ({weight.shape[1]})"
        )
    if hidden.device != weight.device:
        raise ValueError(f"hidden ({hidden.device}) and weight ({weight.device}) must be on the same device")
    if bias is not None:
        if not isinstance(bias, torch.Tensor):
            raise TypeError(f"bias must be a torch.Tensor or None, got {type(bias).__name__}")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape [V] = [{weight.shape[0]}], got {tuple(bias.shape)}")
        if bias.dtype != weight.dtype or bias.device != weight.device:
            raise TypeError(f"bias must match weight's dtype and device ({weight.dtype}, {weight.device})")
    if softcap is not None and not _positive_number(softcap):
        raise ValueError(f"softcap must be None or a finite number > 0, got {softcap!r}")
    if not _positive_number(temperature):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")


def _check_ids(name: str, ids: Any, hidden: torch.Tensor, vocab: int, ignore_index: int | None) -> None:
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(ids).__name__}")
    if ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{name} must be an integer tensor (int64 or int32), got {ids.dtype}")
    if ids.shape != hidden.shape[:-1]:
        raise ValueError(
            f"{name} must have hidden's shape without the last dimension, {tuple(hidden.shape[:-1])}, "
            f"got {tuple(ids.shape)}"
        )
    if ids.device != hidden.device:
        raise ValueError(f"{name} ({ids.device}) must be on hidden's device ({hidden.device})")
    valid = ids if ignore_index is None else ids[ids != ignore_index]
    if valid.numel() and bool(((valid < 0) | (valid >= vocab)).any()):
        bad = valid[(valid < 0) | (valid >= vocab)][0].item()
        allowed = f"[0, {vocab})" + ("" if ignore_index is None else f" or ignore_index={ignore_index}")
        raise ValueError(f"{name} must lie in {allowed}; found {bad}")


def _stats_kwargs(
    softcap: float | None, temperature: float, filter_eps: float | str | None, weight: torch.Tensor
) -> dict[str, Any]:
    return {
        "softcap": None if softcap is None else float(softcap),
        "temperature": float(temperature),
        "filter_eps": reference.resolve_filter_eps(filter_eps, weight.dtype),
    }


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    softcap: float | None = None,
    shift: bool = False,
    impl: str | None = None,
    filter_eps: float | str | None = "auto",
) -> torch.Tensor:
    """Cross-entropy of ``hidden @ weight.T (+ bias)`` against ``labels`` without materialising the logits.

    Equals ``F.cross_entropy(z, labels, ignore_index=..., reduction=...)`` with
    ``z = softcap * tanh((hidden @ weight.T + bias) / softcap)`` (softcap optional, as in Gemma 2), computed by Cut
    Cross-Entropy (arXiv:2411.09009): the log-sum-exp over the vocabulary is reduced block by block and the
    backward recomputes the logits, so memory is ``O(tokens + vocab)`` beyond the inputs and their gradients. On
    the reference path a float32 ``mean``/``sum`` loss that will be differentiated instead forms its gradients in
    the forward, one ``[chunk x vocab]`` float32 block at a time (``fused_loss.py``: no recomputation; the block
    holds about 64 MiB, at least 128 tokens); ``reduction="none"`` keeps the recompute path's
    ``O(tokens + vocab)`` memory. ``python benchmarks/linear_cross_entropy.py --quick`` measures time and memory.

    Args:
        hidden: ``[..., H]`` final hidden states (e.g. ``[B, T, H]``).
        weight: ``[V, H]`` classifier (``lm_head.weight``), same dtype as ``hidden``.
        labels: integer ``hidden.shape[:-1]``, values in ``[0, V)`` or ``ignore_index``.
        bias: optional ``[V]`` classifier bias.
        ignore_index: label value that contributes neither loss nor gradient.
        reduction: ``"mean"`` (over non-ignored tokens), ``"sum"`` or ``"none"`` (per token, float32, 0 at ignored
            tokens; weighting these per token and summing gives exact gradients).
        softcap: logit soft-capping value or ``None``.
        shift: causal-LM shift: position ``t`` predicts ``labels[..., t + 1]`` (hidden ``[..., :-1]`` against labels
            ``[..., 1:]``, per sequence along the second-to-last hidden dimension). With ``reduction="none"`` the
            output then has shape ``labels[..., 1:]``.
        impl: ``"reference"`` (pure PyTorch, any device), ``"triton"`` (CUDA, or CPU under ``TRITON_INTERPRET=1``)
            or ``None``: Triton for CUDA tensors, else the reference.
        filter_eps: gradient filtering threshold: backward blocks whose softmax-gradient entries are all below it
            are skipped. ``"auto"`` = ``finfo(dtype).eps / 32`` (2**-12 for bf16, 2**-28 for fp32); ``None`` = exact.

    Returns:
        A float32 scalar (``mean``/``sum``) or per-token float32 losses (``none``). With every label ignored,
        ``mean`` returns 0 with zero gradients, where ``F.cross_entropy`` returns NaN: a batch of pure padding then
        does not poison a running loss. (``sum`` and ``none`` agree with torch.)
    """
    _check_common(hidden, weight, bias, softcap, 1.0)
    _check_ids("labels", labels, hidden, weight.shape[0], ignore_index)
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not isinstance(shift, bool):
        raise TypeError(f"shift must be a bool, got {type(shift).__name__}")
    if shift and hidden.dim() < 2:
        raise ValueError("shift=True needs hidden of shape [T, H] or [B, T, H] (a sequence dimension)")
    impl = _check_impl(impl, hidden)
    kwargs = _stats_kwargs(softcap, 1.0, filter_eps, weight)

    if shift:
        hidden = hidden[..., :-1, :]
        labels = labels[..., 1:]
    out_shape = labels.shape
    flat_h = hidden.reshape(-1, hidden.shape[-1])
    flat_y = labels.reshape(-1)
    valid = flat_y != ignore_index
    all_valid = bool(valid.all())
    if all_valid:
        h_sel, y_sel = flat_h, flat_y.long()
    else:
        idx = valid.nonzero().squeeze(1)
        h_sel, y_sel = flat_h.index_select(0, idx), flat_y.index_select(0, idx).long()
    if reduction != "none" and _fused_loss_applies(impl, h_sel, weight, bias):
        total = fused_loss.linear_cross_entropy_sum(
            h_sel, weight, bias, y_sel, softcap=kwargs["softcap"], filter_eps=kwargs["filter_eps"]
        )
        return total if reduction == "sum" else total / max(int(y_sel.numel()), 1)
    logp, _ = _stats_fn(impl)(h_sel, weight, bias, y_sel, with_entropy=False, **kwargs)
    loss = -logp
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / max(int(y_sel.numel()), 1)
    if all_valid:
        return loss.reshape(out_shape)
    full = loss.new_zeros(flat_y.shape[0])
    full = full.index_put((idx,), loss)
    return full.reshape(out_shape)


def linear_log_probs_and_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    token_ids: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
    temperature: float = 1.0,
    impl: str | None = None,
    filter_eps: float | str | None = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log p(token_ids), entropy)`` per token in one pass over the vocabulary; see :func:`linear_log_probs`."""
    _check_common(hidden, weight, bias, softcap, temperature)
    _check_ids("token_ids", token_ids, hidden, weight.shape[0], None)
    impl = _check_impl(impl, hidden)
    kwargs = _stats_kwargs(softcap, temperature, filter_eps, weight)
    flat_h = hidden.reshape(-1, hidden.shape[-1])
    logp, ent = _stats_fn(impl)(flat_h, weight, bias, token_ids.reshape(-1).long(), **kwargs)
    return logp.reshape(token_ids.shape), ent.reshape(token_ids.shape)


def linear_log_probs(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    token_ids: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
    temperature: float = 1.0,
    impl: str | None = None,
    filter_eps: float | str | None = "auto",
) -> torch.Tensor:
    """Per-token ``log_softmax(z / temperature)[token_ids]`` with ``z = hidden @ weight.T (+ bias)``, softcapped.

    The differentiable log-probabilities an RL trainer needs (``token_ids`` = the sampled completion shifted to the
    positions that predict them), without the ``[tokens x vocab]`` logits. ``hidden [..., H]``, ``token_ids``
    integer ``hidden.shape[:-1]`` in ``[0, V)``; returns float32 of ``token_ids``' shape. The temperature divides
    the (softcapped) logits, as TRL does before its log-softmax.
    """
    _check_common(hidden, weight, bias, softcap, temperature)
    _check_ids("token_ids", token_ids, hidden, weight.shape[0], None)
    impl = _check_impl(impl, hidden)
    kwargs = _stats_kwargs(softcap, temperature, filter_eps, weight)
    flat_h = hidden.reshape(-1, hidden.shape[-1])
    logp, _ = _stats_fn(impl)(flat_h, weight, bias, token_ids.reshape(-1).long(), with_entropy=False, **kwargs)
    return logp.reshape(token_ids.shape)


def linear_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    *,
    bias: torch.Tensor | None = None,
    softcap: float | None = None,
    temperature: float = 1.0,
    impl: str | None = None,
    filter_eps: float | str | None = "auto",
) -> torch.Tensor:
    """Per-token entropy ``-sum_j p_j log p_j`` of ``softmax(z / temperature)``, differentiable, float32.

    ``hidden [..., H]`` -> ``hidden.shape[:-1]``. The gradient ``dH/dz_j = -p_j (log p_j + H)`` is formed block by
    block in the backward, so the ``[tokens x vocab]`` probabilities are never held.
    """
    _check_common(hidden, weight, bias, softcap, temperature)
    impl = _check_impl(impl, hidden)
    kwargs = _stats_kwargs(softcap, temperature, filter_eps, weight)
    flat_h = hidden.reshape(-1, hidden.shape[-1])
    _, ent = _stats_fn(impl)(flat_h, weight, bias, None, **kwargs)
    return ent.reshape(hidden.shape[:-1])
