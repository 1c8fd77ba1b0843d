"""Landmark insertion for ``model(...)`` and ``model.generate`` with a :class:`LandmarkCache` (the official code's
``enable_landmark_insertion`` / ``prepare_inputs_for_generation``, as two forward hooks on the model).

The model was fine-tuned on text with a landmark after every ``block_size`` regular tokens
(:mod:`hf_tokens.attention.landmark.finetune`). When a call passes a :class:`LandmarkCache`, the pre-hook inserts
a landmark after each regular token that completes a block (counting the regular tokens the cache has already
seen), drops the all-ones 2-D attention mask and any ``position_ids`` (positions then come from the cache's length,
which counts the landmarks, as in training), and the output hook returns one logit per regular token: the
landmark's logit replaces the logit of the token that completed the block (the landmark's output predicts the next
regular token), so ``generate`` samples every token from the right position and never emits a landmark.
Calls without a ``LandmarkCache`` pass through untouched.

Limits: rows must have equal lengths (no padding: with left padding the blocks of different rows would close at
different steps); ``inputs_embeds`` and ``labels`` are refused (train with the fine-tuning recipe).
"""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.attention.landmark.cache import LandmarkCache

_HANDLES = "_hf_tokens_landmark_hooks"


def lay_out(input_ids: torch.Tensor, seen_regular: int, block_size: int, landmark_id: int) -> tuple[torch.Tensor, ...]:
    """``(laid_ids, keep)``: ``input_ids`` ``[B, q]`` (the regular tokens after ``seen_regular`` others) with a
    landmark after each token that completes a block, and the ``[q]`` positions of the laid sequence whose logit
    predicts the next regular token (the landmark's after a completed block, else the token's own)."""
    q = input_ids.shape[1]
    index = torch.arange(q, device=input_ids.device)
    closes = (seen_regular + index + 1) % block_size == 0
    before = torch.cumsum(closes.long(), 0) - closes.long()  # landmarks inserted before token i
    pos = index + before  # laid position of token i
    laid = torch.full((input_ids.shape[0], q + int(closes.sum())), landmark_id, dtype=input_ids.dtype)
    laid = laid.to(input_ids.device)
    laid[:, pos] = input_ids
    return laid, pos + closes.long()


def _find_cache(kwargs: dict[str, Any]) -> Any:
    for name in ("cache", "past_key_values"):
        if isinstance(kwargs.get(name), LandmarkCache):
            return kwargs[name]
    return None


def _pre_hook(module: Any, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]] | None:
    cache = _find_cache(kwargs)
    if cache is None:
        return None
    if args:
        kwargs = {"input_ids": args[0], **kwargs}
        args = ()
    input_ids = kwargs.get("input_ids")
    if input_ids is None or kwargs.get("inputs_embeds") is not None:
        raise ValueError("landmark insertion needs input_ids (inputs_embeds cannot get landmark tokens inserted)")
    if kwargs.get("labels") is not None:
        raise ValueError("labels are not supported with landmark insertion; train with finetune_landmarks")
    mask = kwargs.get("attention_mask")
    if mask is not None and not bool((mask != 0).all()):
        raise ValueError(
            "landmark insertion needs rows of equal length: attention_mask has padding (generate one prompt at a "
            "time, or prompts of equal token length)"
        )
    if cache.token_id is None:
        raise ValueError("the model config has no landmark_token_id: add the token with add_landmark_token first")
    laid, keep = lay_out(input_ids, cache.regular_tokens, cache.landmark.block_size, int(cache.token_id))
    kwargs["input_ids"] = laid
    kwargs["attention_mask"] = None
    kwargs.pop("position_ids", None)
    cache.pending_keep = keep
    return args, kwargs


def _post_hook(module: Any, args: tuple, kwargs: dict[str, Any], output: Any) -> Any:
    cache = _find_cache(kwargs)
    keep = getattr(cache, "pending_keep", None)
    if cache is None or keep is None:
        return None
    cache.pending_keep = None
    logits = getattr(output, "logits", None)
    if logits is not None and logits.shape[1] > keep.numel():  # every position's logit was computed
        output.logits = logits[:, keep]
    return output


def enable_landmark_insertion(model: Any) -> Any:
    """Install the two hooks on ``model`` (idempotent); returns the model. Needs ``model.config.landmark_token_id``."""
    if getattr(model.config, "landmark_token_id", None) is None:
        raise ValueError(
            "model.config.landmark_token_id is missing: add the landmark token (add_landmark_token) and fine-tune"
        )
    if getattr(model, _HANDLES, None) is None:
        handles = (
            model.register_forward_pre_hook(_pre_hook, with_kwargs=True),
            model.register_forward_hook(_post_hook, with_kwargs=True),
        )
        setattr(model, _HANDLES, handles)
    return model


def disable_landmark_insertion(model: Any) -> Any:
    """Remove the hooks :func:`enable_landmark_insertion` installed (no-op when none); returns the model."""
    for handle in getattr(model, _HANDLES, None) or ():
        handle.remove()
    if hasattr(model, _HANDLES):
        delattr(model, _HANDLES)
    return model
