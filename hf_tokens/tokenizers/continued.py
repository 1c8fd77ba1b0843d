"""The short continued-training step after a tokenizer transplant (ZeTT, arXiv:2405.07883, "n-shot" transfer).

ZeTT reports that the gap a zero-shot transfer leaves is closed by continued language-model training of the
transferred model on less than 1B tokens. :func:`continue_training` is that step for any transplanted model: each
step takes ``batch_size`` of the given documents (a seeded permutation, cycled), encodes them with the model's (new)
tokenizer (no special tokens, at most ``max_tokens`` tokens each, right-padded), and takes one AdamW step on the
next-token loss of the real tokens (linear warm-up, then cosine decay to zero; gradient clipping at 1.0).

Two arms given the same :class:`ContinuedTrainingConfig` and the same documents see exactly the same text in the same
order, whatever their tokenizers (as long as no document is longer than ``max_tokens`` tokens: cut documents to a
fixed number of characters that fits), so a comparison of initialisations after continued training has the same data,
seed and budget for every arm; only the number of tokens that text becomes differs, by each tokenizer's compression.

Deviation from the paper, by design: its continued training runs for hundreds of steps of large batches on
accelerators; the budget here is whatever the caller gives (a few dozen CPU steps in the benchmark), and
``train="embeddings"`` (only the embedding matrix and LM head learn) is offered as a cheaper variant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

TRAINABLE = ("all", "embeddings")


@dataclass
class ContinuedTrainingConfig:
    """The budget of the continued-training step (the same for every arm of a comparison)."""

    steps: int = field(default=50, metadata={"help": "optimiser steps"})
    batch_size: int = field(default=4, metadata={"help": "documents per step"})
    max_tokens: int = field(default=256, metadata={"help": "documents are truncated to this many tokens"})
    lr: float = field(default=1e-4, metadata={"help": "peak AdamW learning rate"})
    warmup: int = field(default=5, metadata={"help": "linear warm-up steps"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    train: str = field(default="all", metadata={"help": f"which parameters learn, one of {TRAINABLE}"})
    seed: int = field(default=0, metadata={"help": "seed of the document order"})

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "max_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup must be an int >= 0, got {self.warmup!r}")
        if not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.train not in TRAINABLE:
            raise ValueError(f"train must be one of {TRAINABLE}, got {self.train!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def document_batches(n_docs: int, config: ContinuedTrainingConfig) -> list[list[int]]:
    """Indices of the documents of every step: a seeded permutation of ``range(n_docs)``, cycled (reshuffled)."""
    import random

    rng = random.Random(config.seed)
    order: list[int] = []
    while len(order) < config.steps * config.batch_size:
        perm = list(range(n_docs))
        rng.shuffle(perm)
        order += perm
    return [order[s * config.batch_size : (s + 1) * config.batch_size] for s in range(config.steps)]


def _batch(tokenizer: Any, docs: list[str], max_tokens: int) -> tuple[Any, Any]:
    import torch

    rows = [r[:max_tokens] for r in tokenizer(docs, add_special_tokens=False)["input_ids"]]
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def continue_training(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    config: ContinuedTrainingConfig | None = None,
    *,
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` in place on the documents ``texts`` encoded by ``tokenizer``; returns every step's loss.

    The model is left in eval mode with every parameter's ``requires_grad`` as it was.
    """
    import torch
    from transformers import get_cosine_schedule_with_warmup

    from hf_tokens.tokenizers.transplantation import _check_model

    config = config or ContinuedTrainingConfig()
    if not isinstance(config, ContinuedTrainingConfig):
        raise TypeError(f"config must be a ContinuedTrainingConfig, got {type(config).__name__}")
    if isinstance(texts, str) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise TypeError("texts must be a non-empty list of non-empty str (the training documents)")
    _check_model(model)
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise ValueError(f"tokenizer has {len(tokenizer)} ids but the model's embedding matrix only {rows} rows")
    flags = [p.requires_grad for p in model.parameters()]
    if config.train == "embeddings":
        model.requires_grad_(False)
        model.get_input_embeddings().weight.requires_grad_(True)
        head = model.get_output_embeddings()
        if head is not None:
            head.requires_grad_(True)
    else:
        model.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    sched = get_cosine_schedule_with_warmup(opt, config.warmup, config.steps)
    device = model.get_input_embeddings().weight.device
    losses: list[float] = []
    model.train()
    try:
        for step, picks in enumerate(document_batches(len(texts), config)):
            ids, mask = _batch(tokenizer, [texts[i] for i in picks], config.max_tokens)
            if int(mask.sum()) <= len(picks):
                raise ValueError("every document of a step encodes to a single token: nothing to predict")
            labels = ids.masked_fill(mask == 0, -100)
            out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(float(out.loss.detach()))
            if progress is not None:
                progress(step, losses[-1])
    finally:
        model.eval()
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
    return losses
