"""Fine-tuning a ``*ForSequenceClassification`` encoder on shortened texts, on a CPU budget.

:func:`fine_tune` trains the top ``train_layers`` transformer layers, the pooler and the classification head of a
BERT-style classifier (``model.bert.encoder.layer``, ``model.bert.pooler``, ``model.classifier``); the embeddings and
the layers below stay frozen, so their output is computed once per text (:func:`frozen_states`) and every training
step runs only the trainable top. ``train_layers`` equal to the number of layers is full fine-tuning (the paper's
setting; then nothing is cached), ``0`` trains the pooler and head only.

Deviation from the paper: it fine-tunes every layer of its Indonesian BERTs on a GPU. The committed benchmark
(``bench_results/long_text.json``) trained only the pooler and head (``train_layers=0``) on a frozen MiniLM: on the
shared 2-core machine each process got about 5-8% of a core, and one trainable layer at 512 tokens (about 0.8 s per
text and step there) did not fit the session; every arm used the same seed, steps, batch size and learning rate.
``train_layers`` >= 1 is tested and runs the same code path on a machine that can afford it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


class _GivenStates(nn.Module):
    """Stands in for the embeddings: returns the hidden states it is given as ``inputs_embeds``."""

    def forward(self, inputs_embeds: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        assert inputs_embeds is not None
        return inputs_embeds


def _parts(model: Any) -> tuple[Any, nn.ModuleList]:
    bert = getattr(model, "bert", None)
    layers = getattr(getattr(bert, "encoder", None), "layer", None)
    if bert is None or not isinstance(layers, nn.ModuleList) or not hasattr(model, "classifier"):
        raise TypeError(
            f"model must be a BERT-style *ForSequenceClassification (bert.encoder.layer, classifier), "
            f"got {type(model).__name__}"
        )
    return bert, layers


@contextlib.contextmanager
def _only_layers(model: Any, keep: slice, given_states: bool) -> Iterator[None]:
    """Temporarily run ``model`` with a slice of its layers (and, with ``given_states``, without embeddings)."""
    bert, layers = _parts(model)
    embeddings = bert.embeddings
    bert.encoder.layer = nn.ModuleList(list(layers)[keep])
    if given_states:
        bert.embeddings = _GivenStates()
    try:
        yield
    finally:
        bert.encoder.layer = layers
        bert.embeddings = embeddings


@dataclass
class States:
    """Per text: the hidden states entering the trainable layers (``[tokens, hidden]``), or the token ids when
    nothing is frozen."""

    items: list[torch.Tensor]
    frozen: bool

    def __len__(self) -> int:
        return len(self.items)

    def batch(self, index: Sequence[int]) -> dict[str, torch.Tensor]:
        rows = [self.items[i] for i in index]
        length = max(r.shape[0] for r in rows)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for j, r in enumerate(rows):
            mask[j, : r.shape[0]] = 1
        if self.frozen:
            x = torch.zeros(len(rows), length, rows[0].shape[-1], dtype=rows[0].dtype)
            for j, r in enumerate(rows):
                x[j, : r.shape[0]] = r
            return {"inputs_embeds": x.float(), "attention_mask": mask}
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        for j, r in enumerate(rows):
            ids[j, : r.shape[0]] = r
        return {"input_ids": ids, "attention_mask": mask}


def check_layers(model: Any, train_layers: Any) -> int:
    n = len(_parts(model)[1])
    if isinstance(train_layers, bool) or not isinstance(train_layers, int) or not 0 <= train_layers <= n:
        raise ValueError(f"train_layers must be an int in [0, {n}] (the model has {n} layers), got {train_layers!r}")
    return train_layers


@torch.no_grad()
def frozen_states(
    model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, train_layers: int, batch_size: int = 16
) -> States:
    """Tokenize ``texts`` (truncated to ``max_length`` tokens with special tokens) and run the frozen bottom."""
    n_layers = len(_parts(model)[1])
    check_layers(model, train_layers)
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    ids = [torch.tensor(x) for x in enc["input_ids"]]
    if train_layers == n_layers:
        return States(ids, frozen=False)
    model.eval()
    out: list[torch.Tensor] = []
    ids_only = States(ids, frozen=False)
    with _only_layers(model, slice(0, n_layers - train_layers), given_states=False):
        for s in range(0, len(ids), batch_size):
            index = list(range(s, min(s + batch_size, len(ids))))
            batch = ids_only.batch(index)
            hidden = model.bert(**batch).last_hidden_state
            out += [hidden[j, : ids[i].shape[0]].clone() for j, i in enumerate(index)]
    return States(out, frozen=True)


def _forward(model: Any, states: States, index: Sequence[int], train_layers: int) -> torch.Tensor:
    n_layers = len(_parts(model)[1])
    batch = states.batch(index)
    if not states.frozen:
        return model(**batch).logits
    with _only_layers(model, slice(n_layers - train_layers, n_layers), given_states=True):
        return model(**batch).logits


def fine_tune(
    model: Any,
    states: States,
    labels: Sequence[int],
    *,
    train_layers: int,
    steps: int,
    lr: float = 1e-4,
    batch_size: int = 16,
    seed: int = 0,
    weight_decay: float = 0.01,
) -> list[float]:
    """Train the top ``train_layers`` layers + pooler + head with AdamW (linear decay, 10% warm-up) for ``steps``
    steps over shuffled epochs of ``states``; returns the loss of each step. Frozen parameters keep
    ``requires_grad=False`` afterwards only for the duration of the call."""
    check_layers(model, train_layers)
    if len(states) != len(labels) or not len(states):
        raise ValueError(f"states and labels must be non-empty and of equal length, got {len(states)}/{len(labels)}")
    bert, layers = _parts(model)
    n_layers = len(layers)
    trainable = [*layers[n_layers - train_layers :].parameters(), *model.classifier.parameters()]
    if bert.pooler is not None:
        trainable += list(bert.pooler.parameters())
    if train_layers == n_layers:
        trainable += list(bert.embeddings.parameters())
    flags = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    for p in trainable:
        p.requires_grad_(True)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    warm = max(1, math.ceil(0.1 * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    y = torch.tensor(list(labels))
    order: list[int] = []
    losses = []
    model.train()
    try:
        for _ in range(steps):
            if len(order) < batch_size:
                order += torch.randperm(len(states), generator=gen).tolist()
            index, order = order[:batch_size], order[batch_size:]
            logits = _forward(model, states, index, train_layers)
            loss = nn.functional.cross_entropy(logits, y[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    finally:
        model.eval()
        for p, flag in flags.items():
            p.requires_grad_(flag)
    return losses


@torch.no_grad()
def predict(model: Any, states: States, train_layers: int, batch_size: int = 32) -> torch.Tensor:
    """Predicted labels for ``states`` (computed with the same frozen bottom)."""
    model.eval()
    preds = []
    for s in range(0, len(states), batch_size):
        index = list(range(s, min(s + batch_size, len(states))))
        preds.append(_forward(model, states, index, train_layers).argmax(-1))
    return torch.cat(preds)
