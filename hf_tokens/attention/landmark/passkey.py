"""The fine-tuning recipe at a CPU scale: a passkey-retrieval task laid out with landmarks, a training loop, and the
paper's evaluation (passkey accuracy beyond the training length, tokens attended per step).

Task (the paper's passkey test on a synthetic vocabulary): random filler tokens, somewhere a key marker followed by
``digits`` digit tokens (the pass key), and at the end a query marker after which the model must produce the same
digits. Only the answer digits are targets. Landmarks are inserted with
:func:`~hf_tokens.attention.landmark.data.insert_landmarks` (labels -100 there).

Deviation: a model trained from scratch at one length never sees larger RoPE positions, so training draws a random
position offset per batch (``max_offset``); the relative distances beyond the training length stay unseen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from hf_tokens.attention.landmark.data import IGNORE, insert_landmarks

DIGITS, KEY_MARK, QUERY_MARK, LANDMARK, FILLER = 10, 10, 11, 12, 13


@dataclass
class PasskeyTask:
    """Sizes of the synthetic passkey task."""

    vocab_size: int = field(default=64, metadata={"help": "token ids: 0-9 digits, 10-12 markers, the rest filler"})
    digits: int = field(default=3, metadata={"help": "digits of the pass key"})

    def __post_init__(self) -> None:
        if self.vocab_size <= FILLER + 1:
            raise ValueError(f"vocab_size must be > {FILLER + 1} (digits, markers and filler), got {self.vocab_size}")
        if self.digits < 1:
            raise ValueError(f"digits must be >= 1, got {self.digits}")

    def sample(self, batch: int, length: int, block_size: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """``(input_ids, labels)`` laid out with landmarks; ``length`` regular tokens per row."""
        n = self.digits
        if length < 2 * (n + 1) + 1:
            raise ValueError(f"length must be >= {2 * (n + 1) + 1} for a {n}-digit pass key, got {length}")
        ids = torch.randint(FILLER, self.vocab_size, (batch, length), generator=gen)
        key = torch.randint(0, DIGITS, (batch, n), generator=gen)
        where = torch.randint(0, length - 2 * (n + 1), (batch,), generator=gen)
        labels = torch.full_like(ids, IGNORE)
        for row in range(batch):
            p = int(where[row])
            ids[row, p] = KEY_MARK
            ids[row, p + 1 : p + 1 + n] = key[row]
        ids[:, -n - 1] = QUERY_MARK
        ids[:, -n:] = key
        labels[:, -n:] = key
        return insert_landmarks(ids, block_size, LANDMARK), insert_landmarks(labels, block_size, IGNORE)


def train_passkey(
    model: Any,
    task: PasskeyTask,
    *,
    block_size: int,
    length: int,
    steps: int,
    seconds: float,
    batch_size: int = 16,
    lr: float = 3e-3,
    max_offset: int = 0,
    seed: int = 0,
) -> dict[str, float]:
    """AdamW on the answer tokens for ``steps`` steps or ``seconds`` of wall clock, whichever ends first."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    start, done, loss = time.perf_counter(), 0, float("nan")
    for step in range(steps):
        if time.perf_counter() - start > seconds:
            break
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 20)
        ids, labels = task.sample(batch_size, length, block_size, gen)
        offset = int(torch.randint(0, max_offset + 1, (1,), generator=gen)) if max_offset else 0
        pos = torch.arange(ids.shape[1])[None].expand_as(ids) + offset
        dev = next(model.parameters()).device
        out = model(input_ids=ids.to(dev), position_ids=pos.to(dev), labels=labels.to(dev))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        done, loss = step + 1, float(out.loss.detach())
    model.eval()
    return {"steps": done, "seconds": time.perf_counter() - start, "final_loss": loss}


@torch.no_grad()
def passkey_accuracy(
    model: Any, task: PasskeyTask, *, block_size: int, length: int, samples: int, seed: int, batch_size: int = 8
) -> float:
    """Share of rows whose every pass-key digit is the argmax (= greedy decoding reproduces the key)."""
    gen = torch.Generator().manual_seed(seed)
    right = 0
    for start in range(0, samples, batch_size):
        ids, labels = task.sample(min(batch_size, samples - start), length, block_size, gen)
        logits = model(input_ids=ids.to(next(model.parameters()).device)).logits[:, :-1].cpu()
        target = labels[:, 1:]
        scored = target != IGNORE
        ok = (logits.argmax(-1) == target) | ~scored
        right += int(ok.all(-1).sum())
    return right / samples


def attended_per_step(laid_length: int, block_size: int, top_k: int) -> float:
    """Keys the last query reads: its own block, ``top_k`` retrieved blocks and every landmark it scores (all of
    them for ``top_k = 0``, i.e. the whole prefix)."""
    period = block_size + 1
    own = (laid_length - 1) % period + 1
    earlier = (laid_length - 1) // period
    if top_k == 0:
        return float(laid_length)
    return float(own + earlier + min(top_k, earlier) * block_size)
