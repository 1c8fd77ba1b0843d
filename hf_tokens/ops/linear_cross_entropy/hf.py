"""Train any transformers causal LM with Cut Cross-Entropy: a scoped, reversible forward wrapper, no global patch.

    with cut_cross_entropy_loss(model):          # model, or a PEFT model around it
        loss = model(input_ids, labels=labels).loss   # same value as the standard loss, no [B, T, V] logits
        loss.backward()                          # or: trainer.train() with a transformers Trainer

While the context is open, a forward that receives ``labels`` (and optionally pre-shifted ``shift_labels``) runs
the model's own forward with the LM head replaced, for that call only, by a capture of its input hidden states;
the loss is then ``linear_cross_entropy(hidden, lm_head.weight, labels, shift=True)`` with the model's final-logit
softcap and logit scale, reduced like transformers' ``ForCausalLMLoss`` (mean over non-ignored tokens, or
sum / ``num_items_in_batch`` under gradient accumulation). The returned output has ``logits=None``. Forwards
without labels (generation, evaluation of logits) are the model's original forward. Only the instance attribute
``forward`` of the one model is replaced, and it is restored on exit (also on error), so other models and the class
are untouched.

TRL's ``SFTTrainer`` (1.x) already installs its own chunked fused LM head and calls ``model(..., fused_lm_head=True)``;
such calls pass through unchanged. Use :func:`linear_log_probs` / :func:`linear_entropy` in RL losses.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import torch

from hf_tokens.ops.linear_cross_entropy.api import IMPLS, linear_cross_entropy

CARD_TRAINING_NOTE = (
    "Trained with the Cut Cross-Entropy loss (hf_tokens `cut-cross-entropy`, arXiv:2411.09009): the standard "
    "next-token cross-entropy, computed from the final hidden states and `lm_head.weight` without materialising the "
    "[tokens x vocabulary] logits, so the loss needs memory linear in tokens and vocabulary instead of their product. "
    "The weights are an ordinary checkpoint: load and use them with plain transformers."
)


def _causal_lm(model: Any) -> Any:
    """The module whose ``forward`` computes the logits: the model itself, or the base model of a PEFT wrapper."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a transformers causal LM (a torch.nn.Module), got {type(model).__name__}")
    get_base = getattr(model, "get_base_model", None)
    inner: Any = get_base() if callable(get_base) else model
    get_head = getattr(inner, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    if head is None or not isinstance(getattr(head, "weight", None), torch.Tensor) or head.weight.dim() != 2:
        raise TypeError(
            f"model must be a causal LM with an output embedding (lm_head) of weight [V, H]; "
            f"{type(inner).__name__}.get_output_embeddings() returned {type(head).__name__}"
        )
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # pragma: no cover - peft is a dependency
        BaseTunerLayer = ()  # type: ignore[assignment,misc]
    if isinstance(head, BaseTunerLayer):
        raise ValueError(
            "an adapter on lm_head is not supported: the loss multiplies the hidden states by lm_head.weight "
            "directly; leave lm_head out of the PEFT target_modules"
        )
    return inner


def _logit_transform(config: Any) -> tuple[float | None, float]:
    """``(softcap, scale)``: the final-logit softcap and the multiplier applied to the LM head's output."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    softcap = getattr(text, "final_logit_softcapping", None)
    scale = getattr(text, "logit_scale", None)
    if scale is None:
        scale = getattr(text, "output_multiplier", None) or getattr(text, "lm_head_multiplier", None)
    if scale is None and getattr(text, "logits_scaling", None):
        scale = 1.0 / text.logits_scaling
    return (float(softcap) if softcap else None), (1.0 if scale is None else float(scale))


class CutCrossEntropyHandle:
    """The installed wrapper; :meth:`remove` restores the model's previous ``forward``."""

    def __init__(self, model: Any, *, impl: str | None, filter_eps: float | str | None) -> None:
        self.model = model
        self.impl = impl
        self.filter_eps = filter_eps
        self._had_instance_forward = "forward" in model.__dict__
        self._previous = model.__dict__.get("forward")
        self._original = model.forward
        self.softcap, self.scale = _logit_transform(model.config)

        def forward(*args: Any, **kwargs: Any) -> Any:
            return self._forward(*args, **kwargs)

        # keep the original signature: Trainer drops dataset columns that forward's signature does not name
        functools.update_wrapper(forward, self._original)
        forward._hf_tokens_cce = True  # type: ignore[attr-defined]
        model.forward = forward
        self._wrapper = forward
        self.active = True

    def remove(self) -> None:
        """Restore the previous ``forward``. If another wrapper was installed on top of ours since (e.g. TRL's fused
        LM head), it is left in place and ours turns into a pass-through, so that wrapper keeps working."""
        if not self.active:
            return
        self.active = False
        if self.model.__dict__.get("forward") is not self._wrapper:
            return
        if self._had_instance_forward:
            self.model.forward = self._previous
        else:
            del self.model.forward

    def _forward(self, *args: Any, **kwargs: Any) -> Any:
        labels = kwargs.pop("labels", None)
        shift_labels = kwargs.pop("shift_labels", None)
        num_items = kwargs.pop("num_items_in_batch", None)
        if labels is None or kwargs.get("fused_lm_head") or not self.active:  # no labels, no loss (as transformers)
            for key, value in (("labels", labels), ("shift_labels", shift_labels), ("num_items_in_batch", num_items)):
                if value is not None:
                    kwargs[key] = value
            return self._original(*args, **kwargs)
        head = self.model.get_output_embeddings()
        captured: list[torch.Tensor] = []

        def capture(hidden: torch.Tensor) -> torch.Tensor:
            captured.append(hidden)
            return hidden.new_zeros((*hidden.shape[:-1], 0))  # no logits; post-processing sees an empty tensor

        had = "forward" in head.__dict__
        previous = head.__dict__.get("forward")
        head.forward = capture
        try:
            out = self._original(*args, **kwargs)
        finally:
            if had:
                head.forward = previous
            else:
                del head.forward
        if len(captured) != 1:
            raise RuntimeError(f"expected the LM head to be called once per forward, got {len(captured)} calls")
        out.loss = self._loss(captured[0], head, labels, shift_labels, num_items)
        out.logits = None
        return out

    def _loss(
        self,
        hidden: torch.Tensor,
        head: Any,
        labels: torch.Tensor,
        shift_labels: torch.Tensor | None,
        num_items: Any,
    ) -> torch.Tensor:
        weight: torch.Tensor = head.weight
        bias: torch.Tensor | None = getattr(head, "bias", None)
        dtype = weight.dtype
        if torch.is_autocast_enabled(hidden.device.type):
            dtype = torch.get_autocast_dtype(hidden.device.type)
        hidden = hidden.to(dtype)
        if self.scale != 1.0:
            hidden = hidden * self.scale
            bias = None if bias is None else bias * self.scale
        target = (labels if shift_labels is None else shift_labels).to(hidden.device)
        loss = linear_cross_entropy(
            hidden,
            weight.to(dtype),
            target,
            bias=None if bias is None else bias.to(dtype),
            softcap=self.softcap,
            shift=shift_labels is None,
            reduction="mean" if num_items is None else "sum",
            impl=self.impl,
            filter_eps=self.filter_eps,
        )
        if num_items is not None:
            loss = loss / torch.as_tensor(num_items, device=loss.device)
        return loss


def enable_cut_cross_entropy(
    model: Any, *, impl: str | None = None, filter_eps: float | str | None = "auto"
) -> CutCrossEntropyHandle:
    """Install the Cut Cross-Entropy forward on ``model`` (or a PEFT model's base model); ``.remove()`` undoes it."""
    if impl is not None and impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS} or None (automatic), got {impl!r}")
    from hf_tokens.ops.linear_cross_entropy.reference import resolve_filter_eps

    resolve_filter_eps(filter_eps, torch.float32)  # validate before touching the model
    inner = _causal_lm(model)
    current = inner.__dict__.get("forward")
    if getattr(current, "_hf_tokens_cce", False):
        raise ValueError("Cut Cross-Entropy is already enabled on this model; remove the first handle before")
    return CutCrossEntropyHandle(inner, impl=impl, filter_eps=filter_eps)


@contextlib.contextmanager
def cut_cross_entropy_loss(
    model: Any, *, impl: str | None = None, filter_eps: float | str | None = "auto"
) -> Iterator[Any]:
    """Context manager: inside, ``model(..., labels=...)`` computes its loss with Cut Cross-Entropy (module doc)."""
    handle = enable_cut_cross_entropy(model, impl=impl, filter_eps=filter_eps)
    try:
        yield model
    finally:
        handle.remove()


def model_card(base_model: str | None = None, **context: Any) -> Any:
    """The model card (``huggingface_hub.ModelCard``) of a model fine-tuned with this loss; it names the loss."""
    from hf_tokens.hub.cards import render_card

    context.setdefault("training", CARD_TRAINING_NOTE)
    return render_card("cut-cross-entropy", kind="model", base_model=base_model, **context)
