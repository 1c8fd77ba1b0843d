"""A causal LM split into its body (hidden states) and its head (``lm_head`` plus the logit transform).

:func:`forward_hidden` runs a transformers causal LM once with a forward pre-hook on its output embeddings that
captures the hidden states the head receives and hands the head an empty slice, so the ``[batch x seq x vocab]``
logits are never computed; the hook is removed when the call returns or raises. :class:`LMHead` holds what turns those
hidden states into logits: ``z = softcap * tanh((scale * h @ W.T + scale * b) / softcap)`` with the model's
``final_logit_softcapping`` (Gemma 2/3) and logit scale (``logit_scale``, ``logits_scaling`` ...), read from the
config by the Cut Cross-Entropy wrapper's rules (``ops/linear_cross_entropy/hf.py``).

A model may transform its logits in ways a config does not announce. The first forward of each model instance
therefore lets the head compute the real logits of one position per row and compares them with ``LMHead.logits``
on the captured hidden states; a mismatch raises ``ValueError`` instead of returning silently wrong statistics.
The verdict is remembered per model instance and head configuration.
"""

from __future__ import annotations

import inspect
import weakref
from dataclasses import dataclass
from typing import Any

import torch

from hf_tokens.ops.linear_cross_entropy import reference
from hf_tokens.ops.linear_cross_entropy.hf import _causal_lm, _logit_transform

# Largest |model logit - ours| allowed, relative to 1 + the largest |logit| of the row, by the model's dtype.
_VERIFY_TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-6}
_VERIFY_TOLERANCE_LOW = 2e-2  # bfloat16 / float16 heads round their output to 8 / 11 bits
_verified: weakref.WeakKeyDictionary[Any, set[tuple[Any, ...]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class LMHead:
    """The output layer of a causal LM: ``weight [V, H]``, optional ``bias [V]``, final softcap and logit scale."""

    module: torch.nn.Module
    weight: torch.Tensor
    bias: torch.Tensor | None
    softcap: float | None
    scale: float

    @classmethod
    def of(cls, model: Any) -> LMHead:
        """The head of ``model`` (a transformers causal LM or a PEFT model around one)."""
        inner = _causal_lm(model)
        module = inner.get_output_embeddings()
        softcap, scale = _logit_transform(inner.config)
        bias = getattr(module, "bias", None)
        return cls(module, module.weight, bias if isinstance(bias, torch.Tensor) else None, softcap, scale)

    @property
    def vocab_size(self) -> int:
        return int(self.weight.shape[0])

    def key(self) -> tuple[Any, ...]:
        return (self.weight.data_ptr(), self.weight.dtype, self.softcap, self.scale, self.bias is not None)

    def inputs(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(scale * hidden, scale * bias)`` in the weight's dtype: what the chunked ops multiply with ``W``."""
        hidden = hidden.to(self.weight.dtype)
        bias = self.bias
        if self.scale != 1.0:
            hidden = hidden * self.scale
            bias = None if bias is None else bias * self.scale
        return hidden, bias

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Materialised float32 logits ``[..., V]`` of a few rows (verification and tests, not bulk work)."""
        h, b = self.inputs(hidden)
        flat = h.reshape(-1, h.shape[-1])
        with torch.no_grad():
            z, _ = reference._block_logits(flat, self.weight, b, self.softcap, 1.0)
        return z.reshape(*hidden.shape[:-1], -1)


def accepts(model: Any, name: str) -> bool:
    params = inspect.signature(model.forward).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def forward_hidden(model: Any, head: LMHead, **inputs: Any) -> torch.Tensor:
    """Run ``model(**inputs)`` and return the hidden states its LM head receives (``[B, T, H]``), no logits.

    On the model's first call (per head configuration) the head computes the logits of the last position of each
    row, which are checked against :meth:`LMHead.logits`; see the module docstring.
    """
    key = head.key()
    verify = key not in _verified.get(model, set())
    captured: list[torch.Tensor] = []

    def pre_hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        hidden = args[0] if args else kwargs.get("input")
        if not isinstance(hidden, torch.Tensor) or hidden.dim() < 2:
            raise ValueError(
                f"{type(model).__name__} calls its output embeddings with {type(hidden).__name__}, not hidden states "
                "[..., seq, H]: per-token statistics do not support this model"
            )
        captured.append(hidden)
        cut = hidden[..., -1:, :] if verify else hidden[..., :0, :]
        return ((cut, *args[1:]), kwargs) if args else (args, {**kwargs, "input": cut})

    handle = head.module.register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        out = model(**inputs)
    finally:
        handle.remove()
    if len(captured) != 1:
        raise ValueError(
            f"{type(model).__name__} called its output embeddings {len(captured)} times in one forward (expected "
            "once): per-token statistics do not support this model"
        )
    hidden = captured[0]
    if verify:
        _verify(model, head, hidden[..., -1, :], getattr(out, "logits", None))
        _verified.setdefault(model, set()).add(key)
    return hidden


def _verify(model: Any, head: LMHead, hidden_last: torch.Tensor, model_logits: Any) -> None:
    name = type(model).__name__
    if not isinstance(model_logits, torch.Tensor) or model_logits.shape[-1] != head.vocab_size:
        shape = None if not isinstance(model_logits, torch.Tensor) else tuple(model_logits.shape)
        raise ValueError(
            f"{name}'s logits (shape {shape}) are not its LM head's {head.vocab_size} outputs: per-token "
            "statistics do not support this model"
        )
    theirs = model_logits[..., -1, :].float().reshape(-1, head.vocab_size)
    ours = head.logits(hidden_last).reshape(-1, head.vocab_size)
    rows = torch.isfinite(theirs).all(-1) & torch.isfinite(ours).all(-1)
    if not bool(rows.any()):
        return
    theirs, ours = theirs[rows], ours[rows]
    tol = _VERIFY_TOLERANCE.get(head.weight.dtype, _VERIFY_TOLERANCE_LOW)
    err = ((theirs - ours).abs() / (1 + theirs.abs().amax(-1, keepdim=True))).amax()
    if float(err) > tol:
        raise ValueError(
            f"{name} transforms its logits in a way per-token statistics do not reproduce (largest relative "
            f"difference {float(err):.3g} > {tol:g}; applied: softcap={head.softcap}, scale={head.scale}). "
            "Supported: a linear head with optional bias, final_logit_softcapping and a constant logit scale"
        )
