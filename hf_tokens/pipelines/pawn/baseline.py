"""PAWN's supervised baseline: a fine-tuned encoder sequence classifier on the raw text.

PAWN (arXiv 2501.03940) trains a small head on a frozen LM's next-token statistics and compares it with fully
fine-tuned text classifiers (the paper's are DeBERTa-v3 and larger LMs with a classification head). Here the
classifier is the bundled all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 22.7M parameters) loaded as
``AutoModelForSequenceClassification`` with two labels (0 = human, 1 = machine): its pretrained encoder and pooler,
a freshly initialised (seeded) linear classifier, every parameter trained with AdamW, cross-entropy, a linear
warm-up and decay. The score of a text is ``logit(machine) - logit(human)``. Texts are always right-padded (an
encoder with absolute positions, as BERT, would otherwise score a text differently by the batch it is padded in).

Deviations, named: the encoder is MiniLM-L6 rather than the paper's DeBERTa-v3/LLM classifiers (the only encoder
with real weights available offline here); the schedule (epochs, learning rate, warm-up share) is fixed a priori,
not tuned on a validation split; given one (``val_texts``), the epoch with the lowest validation loss is kept, as
for PAWN's head; training stops early after ``time_budget_s`` CPU seconds when given (the benchmark's CPU budget).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from hf_tokens.pipelines.pawn.training import TrainingSettings, check_labels, check_validation, train_epochs


@dataclass
class ClassifierBaselineConfig(TrainingSettings):
    """Fine-tuning of the supervised baseline classifier (PAWN, arXiv 2501.03940, its fine-tuned LM baselines)."""

    POSITIVE_INTS: ClassVar[tuple[str, ...]] = ("epochs", "batch_size", "max_length")

    epochs: int = field(default=10, metadata={"help": "passes over the training texts"})
    lr: float = field(default=5e-5, metadata={"help": "AdamW peak learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    warmup_ratio: float = field(default=0.1, metadata={"help": "share of the steps with a linear warm-up"})
    batch_size: int = field(default=16, metadata={"help": "texts per step"})
    max_length: int = field(default=256, metadata={"help": "encoder tokens per text (longer texts are truncated)"})
    seed: int = field(default=0, metadata={"help": "seed of the head's initialisation, shuffling and dropout"})
    time_budget_s: float | None = field(default=None, metadata={"help": "stop after this many CPU seconds"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.warmup_ratio, bool) or not 0.0 <= float(self.warmup_ratio) < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")


def minilm_classifier(seed: int = 0) -> tuple[Any, Any]:
    """``(model, tokenizer)``: all-MiniLM-L6-v2 with a fresh 2-label sequence-classification head (seeded)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_tokens.assets.loaders import minilm_folder

    folder = minilm_folder()
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=2, id2label={0: "human", 1: "machine"}, label2id={"human": 0, "machine": 1}
    )
    return model.eval(), AutoTokenizer.from_pretrained(folder)


def _check_texts(texts: Sequence[str]) -> None:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str")
    if not texts:
        raise ValueError("texts must not be empty")
    if any(not t.strip() for t in texts):
        raise ValueError("texts must not contain empty strings")


def _check_classifier(model: Any) -> None:
    if getattr(getattr(model, "config", None), "num_labels", None) != 2:
        raise ValueError("model must be a sequence classifier with num_labels=2 (0 = human, 1 = machine)")


def train_text_classifier(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    config: ClassifierBaselineConfig | None = None,
    *,
    val_texts: Sequence[str] | None = None,
    val_labels: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``model`` (a 2-label ``...ForSequenceClassification``) in place on ``texts`` with ``labels``
    (1 = machine, 0 = human). With ``val_texts``/``val_labels`` the weights of the epoch with the lowest validation
    cross-entropy are kept (the model selection PAWN's head gets). Returns a log: mean loss per epoch, steps, CPU
    seconds (``val_loss``, ``best_epoch`` with a validation split); the model ends in eval mode."""
    cfg = config or ClassifierBaselineConfig()
    _check_texts(texts)
    _check_classifier(model)
    check_labels(texts, labels, "texts", "labels")
    enc = tokenizer(list(texts), truncation=True, max_length=cfg.max_length, padding=True, padding_side="right",
                    return_tensors="pt")  # fmt: skip
    y = torch.tensor([int(v) for v in labels])
    steps_per_epoch = -(-len(texts) // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_ratio * total)
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / (warmup + 1) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )

    def step(idx: torch.Tensor) -> torch.Tensor:
        width = int(enc["attention_mask"][idx].sum(1).max())  # trim the batch's common padding
        batch = {k: v[idx, :width] for k, v in enc.items()}
        loss = torch.nn.functional.cross_entropy(model(**batch).logits, y[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        return loss

    validate = None
    if check_validation(val_texts, val_labels, "val_texts", "val_labels"):
        assert val_texts is not None and val_labels is not None  # for the type checker
        _check_texts(val_texts)
        sign = 2.0 * torch.tensor([float(v) for v in val_labels]) - 1.0

        def validate() -> float:  # 2-class cross-entropy from the logit difference
            diff = classifier_scores(model, tokenizer, val_texts, max_length=cfg.max_length)
            return float(torch.nn.functional.softplus(-sign * diff).mean())

    return train_epochs(model, cfg, len(texts), step, validate)


@torch.no_grad()
def classifier_scores(
    model: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 32, max_length: int = 256
) -> torch.Tensor:
    """``[N]`` scores ``logit(machine) - logit(human)`` (higher = machine) of a 2-label classifier, in eval mode."""
    _check_texts(texts)
    _check_classifier(model)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    model.eval()
    out = []
    for s in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[s : s + batch_size]), truncation=True, max_length=max_length, padding=True,
                        padding_side="right", return_tensors="pt")  # fmt: skip
        logits = model(**enc).logits.float()
        out.append(logits[:, 1] - logits[:, 0])
    return torch.cat(out)
