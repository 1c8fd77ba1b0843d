"""Fine-tune an encoder with XTR's in-batch token retrieval loss on (question, passage) pairs.

    model = train_xtr(model, tokenizer, questions, passages, XTRConfig(k_train=64), steps=200, batch_size=16)

Each batch holds ``batch_size`` pairs; passage ``b`` is the positive of question ``b`` and the other passages of the
batch are its negatives (the paper's in-batch setting, without its hard negatives). A plain AdamW loop: the budget
(steps, batch, lengths) is small enough for one CPU process.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from hf_tokens.pipelines.xtr.index import content_mask, token_embeddings
from hf_tokens.pipelines.xtr.pipeline import XTRConfig
from hf_tokens.pipelines.xtr.scoring import xtr_loss


def train_xtr(
    model: Any,
    tokenizer: Any,
    questions: Sequence[str],
    passages: Sequence[str],
    config: XTRConfig | None = None,
    *,
    steps: int = 100,
    batch_size: int = 16,
    lr: float = 2e-5,
    query_length: int = 32,
    seed: int = 0,
    log: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` in place; returns ``{"losses": [...], "seconds": ...}``."""
    config = config or XTRConfig()
    if len(questions) != len(passages):
        raise ValueError(f"questions ({len(questions)}) and passages ({len(passages)}) must pair up one to one")
    if len(questions) < 2:
        raise ValueError("give at least 2 pairs: in-batch negatives need a second passage")
    if steps < 1 or batch_size < 2:
        raise ValueError(f"steps must be >= 1 and batch_size >= 2, got {steps} and {batch_size}")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    order: list[int] = []
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses, t0 = [], time.perf_counter()
    size = min(batch_size, len(set(passages)))
    if size < 2:
        raise ValueError("every pair has the same passage; in-batch negatives need two different passages")
    for step in range(steps):
        batch: list[int] = []
        while len(batch) < size:
            if not order:
                order = list(range(len(questions)))
                rng.shuffle(order)
            i = order.pop()
            if passages[i] not in {passages[j] for j in batch}:  # a duplicate passage would be a false negative
                batch.append(i)
        q_enc = tokenizer(
            [questions[i] for i in batch], padding=True, truncation=True, max_length=query_length, return_tensors="pt"
        )
        d_enc = tokenizer(
            [passages[i] for i in batch],
            padding=True,
            truncation=True,
            max_length=config.max_length,
            return_tensors="pt",
        )
        loss = xtr_loss(
            token_embeddings(model, q_enc),
            content_mask(tokenizer, q_enc),
            token_embeddings(model, d_enc),
            content_mask(tokenizer, d_enc),
            k_train=config.k_train,
            temperature=config.temperature,
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if log is not None:
            log(step, losses[-1])
    model.eval()
    return {"losses": losses, "seconds": time.perf_counter() - t0}


def inverse_cloze_pairs(passages: Sequence[str], *, words: int = 12, seed: int = 0) -> tuple[list[str], list[str]]:
    """Self-supervised (query, passage) pairs by the inverse cloze task: a window of ``words`` words cut out of a
    passage is the query, the passage without it the positive. Passages shorter than ``3 * words`` are skipped."""
    rng = random.Random(seed)
    queries, positives = [], []
    for text in passages:
        tokens = text.split()
        if len(tokens) < 3 * words:
            continue
        start = rng.randrange(len(tokens) - words)
        queries.append(" ".join(tokens[start : start + words]))
        positives.append(" ".join(tokens[:start] + tokens[start + words :]))
    return queries, positives
