"""The short continued-training step after a tokenizer transplant (ZeTT, arXiv:2405.07883, "n-shot" transfer).

ZeTT reports that the gap a zero-shot transfer leaves is closed by continued language-model training of the
transferred model on less than 1B tokens. :func:`continue_training` is that step for any transplanted model: the
text is encoded with the model's (new) tokenizer into one token stream (each text followed by the eos token when the
tokenizer has one), and the model is trained in place on random windows of it with the loop every arm of a
comparison shares (:func:`hf_tokens.models.lm_training.train_on_stream`: AdamW, linear warm-up then cosine decay to
10% of the peak rate, gradient clipping at 1.0, seeded window sampling).

Two arms that get the same :class:`ContinuedTrainingConfig` and the same texts get the same budget: the same number
of steps, of windows per step and of tokens per window, drawn by the same seed from the same text (tokenized by each
arm's own tokenizer, so a window covers a little more or less text depending on the tokenizer's compression).

Deviation from the paper, by design: its continued training runs for hundreds of steps of large batches on
accelerators; the budget here is whatever the caller gives (a few dozen CPU steps in the benchmark), and
``train="embeddings"`` (only the embedding matrices and LM head learn) is offered as a cheaper variant.
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
    batch_size: int = field(default=4, metadata={"help": "windows per step"})
    seq_len: int = field(default=128, metadata={"help": "tokens per window (one more id is the last target)"})
    lr: float = field(default=1e-4, metadata={"help": "peak AdamW learning rate"})
    warmup: int = field(default=5, metadata={"help": "linear warm-up steps"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    train: str = field(default="all", metadata={"help": f"which parameters learn, one of {TRAINABLE}"})
    seed: int = field(default=0, metadata={"help": "seed of the window sampling"})

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len"):
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


def token_stream(tokenizer: Any, texts: Sequence[str]) -> Any:
    """All ``texts`` encoded without special tokens, each followed by the tokenizer's eos id if it has one."""
    import torch

    if isinstance(texts, str) or not texts or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a non-empty list of str")
    eos = getattr(tokenizer, "eos_token_id", None)
    ids: list[int] = []
    for row in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids.extend(row)
        if eos is not None:
            ids.append(int(eos))
    return torch.tensor(ids, dtype=torch.long)


def continue_training(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    config: ContinuedTrainingConfig | None = None,
    *,
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` in place on ``texts`` encoded by ``tokenizer``; returns the training loss of every step.

    The model is left in eval mode with every parameter's ``requires_grad`` as it was.
    """
    from hf_tokens.models.lm_training import TrainingBudget, train_on_stream
    from hf_tokens.tokenizers.transplantation import _check_model

    config = config or ContinuedTrainingConfig()
    if not isinstance(config, ContinuedTrainingConfig):
        raise TypeError(f"config must be a ContinuedTrainingConfig, got {type(config).__name__}")
    _check_model(model)
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise ValueError(f"tokenizer has {len(tokenizer)} ids but the model's embedding matrix only {rows} rows")
    stream = token_stream(tokenizer, texts)
    if stream.numel() < config.seq_len + 1:
        raise ValueError(f"texts give {stream.numel()} tokens, fewer than seq_len + 1 = {config.seq_len + 1}")
    flags = [p.requires_grad for p in model.parameters()]
    if config.train == "embeddings":
        model.requires_grad_(False)
        model.get_input_embeddings().weight.requires_grad_(True)
        head = model.get_output_embeddings()
        if head is not None:
            head.requires_grad_(True)
    else:
        model.requires_grad_(True)
    budget = TrainingBudget(
        steps=config.steps, batch_size=config.batch_size, lr=config.lr, warmup=config.warmup,
        weight_decay=config.weight_decay, seed=config.seed,
    )  # fmt: skip
    try:
        return train_on_stream(model, stream, seq_len=config.seq_len, budget=budget, progress=progress)
    finally:
        model.eval()
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
