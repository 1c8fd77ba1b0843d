"""The paper's recipe that inserts landmarks into a pretrained model (its LLaMA 7B fine-tuning, at a CPU scale).

As in the official ``llama/train.py`` (Mohtashami & Jaggi, arXiv 2305.16300): a new special token ``<landmark>`` is
added to the tokenizer and the embedding matrix, the training text is cut into windows laid out with a landmark
after every ``block_size`` tokens (the official run: 63 tokens + landmark = 64 positions, 512 positions per
window), the model is switched to the grouped-softmax attention (``hf_tokens_landmark``) and every weight is trained
with AdamW on next-token prediction (warm-up, then cosine decay to 10%).

Deviations: the official run trains 15,000 steps of 8 x 2 windows at lr 2e-5 on RedPajama; here the budget is
``steps`` windows-batches on the offline corpora (:mod:`hf_tokens.assets.text`), which a caller states. The
landmark is never a target (the official config has ``include_landmark_in_loss=True``, a trivially predictable
token); the landmark's own output predicts the next regular token, so at inference the logit after a completed
block is the landmark's (:mod:`hf_tokens.attention.landmark.generation`). The new embedding row starts as the mean
of the others (transformers' ``resize_token_embeddings`` default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from hf_tokens.attention.landmark.attention import register_landmark_attention
from hf_tokens.attention.landmark.config import LandmarkAttentionConfig
from hf_tokens.attention.landmark.data import insert_landmarks, landmark_labels
from hf_tokens.models.lm_training import TrainingBudget, train_on_stream

LANDMARK_TOKEN = "<landmark>"


def add_landmark_token(model: Any, tokenizer: Any, config: LandmarkAttentionConfig) -> int:
    """Add ``<landmark>`` to ``tokenizer`` (a special token) and ``model``'s embeddings; write ``config`` and the
    token id (``landmark_token_id``) onto ``model.config``; returns the id. Idempotent for an adapted pair."""
    if not isinstance(config, LandmarkAttentionConfig):
        raise TypeError(f"config must be a LandmarkAttentionConfig, got {type(config).__name__}")
    if LANDMARK_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [LANDMARK_TOKEN]})
    token_id = int(tokenizer.convert_tokens_to_ids(LANDMARK_TOKEN))
    if model.get_input_embeddings().weight.shape[0] <= token_id:
        model.resize_token_embeddings(token_id + 1)
    config.apply(model.config)
    model.config.landmark_token_id = token_id
    return token_id


def landmark_loss(model: Any, windows: torch.Tensor, *, block_size: int, landmark_id: int) -> torch.Tensor:
    """Next-token loss of ``windows[B, T + 1]`` (the first ``T`` ids, ``T`` a multiple of ``block_size``) laid out
    with landmarks; landmarks are never targets."""
    ids = insert_landmarks(windows[:, :-1], block_size, landmark_id, require_full_blocks=True)
    return model(input_ids=ids, labels=landmark_labels(ids, block_size)).loss


def finetune_landmarks(
    model: Any,
    ids: torch.Tensor,
    *,
    config: LandmarkAttentionConfig,
    landmark_id: int,
    length: int,
    budget: TrainingBudget,
    seconds: float | None = None,
    train: str = "all",
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Fine-tune ``model`` in place on random windows of ``length`` regular tokens of the stream ``ids`` (plus
    ``length // block_size`` landmarks) with the grouped softmax; returns the loss of every step. The model keeps
    ``attn_implementation="hf_tokens_landmark"`` afterwards (inference with retrieval: set ``landmark_top_k``, or
    use :class:`~hf_tokens.attention.landmark.cache.LandmarkCache` with sdpa). ``seconds`` caps the wall clock:
    training stops after the step that passes it (the schedule still spans ``budget.steps``). ``train="attention"``
    trains only the attention projections and the (tied) embeddings, which hold the landmark token: a third of the
    weights, less optimizer memory (a deviation from the paper, which trains every weight)."""
    if train not in ("all", "attention"):
        raise ValueError(f"train must be 'all' or 'attention', got {train!r}")
    if length % config.block_size:
        raise ValueError(f"length ({length}) must be a multiple of block_size ({config.block_size})")
    if getattr(model.config, "landmark_token_id", None) != landmark_id:
        raise ValueError("call add_landmark_token(model, tokenizer, config) first (model.config.landmark_token_id)")
    model.set_attn_implementation(register_landmark_attention())
    for name, param in model.named_parameters():
        param.requires_grad_(train == "all" or "self_attn" in name or "embed_tokens" in name)
    LandmarkAttentionConfig(block_size=config.block_size, top_k=0, impl="reference").apply(model.config)

    def loss_fn(m: Any, windows: torch.Tensor) -> torch.Tensor:
        return landmark_loss(m, windows, block_size=config.block_size, landmark_id=landmark_id)

    start, losses = time.perf_counter(), []

    def step_done(step: int, loss: float) -> None:
        losses.append(loss)
        if progress is not None:
            progress(step, loss)
        if seconds is not None and time.perf_counter() - start > seconds:
            raise _OutOfTime

    try:
        train_on_stream(model, ids, seq_len=length, budget=budget, loss_fn=loss_fn, progress=step_done)
    except _OutOfTime:
        model.eval()
    finally:
        for param in model.parameters():
            param.requires_grad_(True)
    config.apply(model.config)
    return losses


class _OutOfTime(Exception):
    """Raised from the progress callback when the wall-clock budget is spent."""
