"""Train and score small causal LMs on one long token stream: the loop shared by the token-free experiments
(``tokenization-theory``, ``equal-info-windows`` and ``benchmarks/token_free.py``), so every arm of a comparison is
trained by the same code with the same budget.

A model is anything whose ``forward(input_ids)`` returns an object with ``.logits`` of shape ``[B, T, V]``.
Training draws ``batch_size`` random windows of ``seq_len + 1`` ids from the stream per step (seeded), with AdamW and
a linear warm-up then cosine decay. Scoring walks the stream in non-overlapping windows and sums the NLL of every
predicted id (the first id of each window is context only), so per-symbol cross-entropies of two tokenizations of
the same text are comparable after dividing by the number of characters/bytes the predicted ids cover.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class TrainingBudget:
    """The compute every arm of a comparison gets."""

    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    warmup: int = 20
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup must be an int >= 0, got {self.warmup!r}")


def tiny_llama(vocab_size: int, *, hidden: int = 64, layers: int = 2, heads: int = 4, max_len: int = 512) -> Any:
    """A small Llama (transformers' own class) used as the plain token/byte/character LM of the experiments."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_len,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def tiny_gpt2(vocab_size: int, *, hidden: int = 64, layers: int = 1, heads: int = 1, max_len: int = 512) -> Any:
    """A small GPT-2 (transformers' own class): learned absolute positions and tied input/output embeddings, the
    architecture of the Markov-data studies (Makkuva et al., 2024; Rajaraman et al., 2024)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=max_len,
        n_embd=hidden,
        n_layer=layers,
        n_head=heads,
        bos_token_id=None,
        eos_token_id=None,
        tie_word_embeddings=True,
    )
    return GPT2LMHeadModel(config)


def _check_stream(ids: torch.Tensor, seq_len: int) -> torch.Tensor:
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1 or ids.dtype not in (torch.long, torch.int):
        raise TypeError("ids must be a 1-D integer tensor (one long token stream)")
    if not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
    if ids.numel() < seq_len + 1:
        raise ValueError(f"the stream has {ids.numel()} ids, fewer than seq_len + 1 = {seq_len + 1}")
    return ids.long()


def train_on_stream(
    model: Any,
    ids: torch.Tensor,
    *,
    seq_len: int,
    budget: TrainingBudget,
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``model`` in place on random windows of ``ids``; returns the loss of every step.

    ``loss_fn(model, windows[B, seq_len + 1])`` replaces the default next-id cross-entropy (models whose forward
    takes more than ``input_ids`` pass their own).
    """
    ids = _check_stream(ids, seq_len)
    gen = torch.Generator().manual_seed(budget.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=budget.lr, weight_decay=budget.weight_decay, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        if step < budget.warmup:
            return (step + 1) / budget.warmup
        frac = (step - budget.warmup) / max(1, budget.steps - budget.warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    losses = []
    offsets = torch.arange(seq_len + 1)
    for step in range(budget.steps):
        starts = torch.randint(0, ids.numel() - seq_len, (budget.batch_size,), generator=gen)
        windows = ids[starts[:, None] + offsets]
        loss = loss_fn(model, windows) if loss_fn is not None else next_id_loss(model, windows)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, losses[-1])
    model.eval()
    return losses


def next_id_loss(model: Any, windows: torch.Tensor) -> torch.Tensor:
    """Mean next-id cross-entropy (nats) of ``model`` over ``windows[B, T + 1]``."""
    logits = model(input_ids=windows[:, :-1]).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), windows[:, 1:].reshape(-1))


@torch.no_grad()
def stream_nll(model: Any, ids: torch.Tensor, *, seq_len: int, batch_size: int = 16) -> torch.Tensor:
    """Per-id NLL (nats) of ``ids[1:]`` scored in non-overlapping windows of ``seq_len + 1`` ids that share one id.

    Element ``j`` is the NLL of ``ids[j + 1]``; every id after the first is predicted exactly once, from the ids of
    its own window before it (at most ``seq_len`` of them).
    """
    ids = _check_stream(ids, 1)
    model.eval()
    out = torch.empty(ids.numel() - 1)
    starts = list(range(0, ids.numel() - 1, seq_len))
    for b in range(0, len(starts), batch_size):
        group = starts[b : b + batch_size]
        rows = [ids[s : s + seq_len + 1] for s in group]
        width = max(r.numel() for r in rows)
        batch = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            batch[i, : r.numel()] = r
        logp = torch.log_softmax(model(input_ids=batch[:, :-1]).logits.float(), dim=-1)
        nll = -logp.gather(-1, batch[:, 1:, None])[..., 0]
        for i, (s, r) in enumerate(zip(group, rows)):
            out[s : s + r.numel() - 1] = nll[i, : r.numel() - 1]
    return out
