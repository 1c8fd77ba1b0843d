"""Using a :class:`~.merges.DynamicBatch` with a model: embeddings, decoder prefilling (the paper's setting 1) and
encoder pooling.

The model itself is untouched: dynamic tokens enter through ``inputs_embeds`` (original rows for original ids, the
predictor's rows for merged tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from hf_tokens.tokenizers.dynamic.merges import DynamicBatch
from hf_tokens.tokenizers.dynamic.predictor import EmbeddingPredictor


def predicted_rows(
    model: Any, batch: DynamicBatch, predictor: EmbeddingPredictor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The predictor's ``(input, output)`` rows for ``batch.decompositions``, checked against the model's sizes."""
    if not hasattr(predictor, "predict"):
        raise TypeError(f"predictor must have a predict(decompositions) method, got {type(predictor).__name__}")
    weight = model.get_input_embeddings().weight
    if batch.base_vocab_size > weight.shape[0]:
        raise ValueError(
            f"batch was tokenised with a vocabulary of {batch.base_vocab_size} but the model embeds {weight.shape[0]}"
        )
    emb_in, emb_out = predictor.predict([list(d) for d in batch.decompositions])
    n, d = len(batch.decompositions), weight.shape[1]
    if tuple(emb_in.shape) != (n, d):
        raise ValueError(
            f"predictor returned input embeddings of shape {tuple(emb_in.shape)}, the model needs ({n}, {d})"
        )
    if emb_out.shape[0] != n:
        raise ValueError(f"predictor returned {emb_out.shape[0]} output embeddings for {n} new tokens")
    return emb_in.to(weight), emb_out


def embed(model: Any, batch: DynamicBatch, rows: torch.Tensor, sequence: list[int]) -> torch.Tensor:
    """``inputs_embeds`` ``[len, d]`` of one dynamic sequence (original rows + predicted ``rows``)."""
    weight = model.get_input_embeddings().weight
    ids = torch.as_tensor(sequence, dtype=torch.long, device=weight.device)
    table = torch.cat([weight[: batch.base_vocab_size], rows.to(weight)], dim=0)
    out = table[ids]
    scale = getattr(model.get_input_embeddings(), "embed_scale", None)  # e.g. Gemma's scaled embeddings
    return out * scale if scale is not None else out


@torch.no_grad()
def continuation_nll(
    model: Any, batch: DynamicBatch, continuations: list[list[int]], predictor: EmbeddingPredictor
) -> list[float]:
    """Mean negative log-likelihood of each continuation (original ids) after its dynamic-token prefix.

    Setting 1 of the paper: the prompt is prefilled in dynamic tokens, the continuation is scored in the original
    vocabulary (the output layer is unchanged).
    """
    _check_continuations(batch, continuations)
    rows, _ = predicted_rows(model, batch, predictor)
    return [
        float(prefill_loss(model, replace(batch, sequences=[seq], original=[]), [cont], rows, prefix_loss=False))
        for seq, cont in zip(batch.sequences, continuations, strict=True)
    ]


def prefill_loss(
    model: Any,
    batch: DynamicBatch,
    continuations: Sequence[Sequence[int]],
    rows: torch.Tensor,
    *,
    prefix_loss: bool = True,
) -> torch.Tensor:
    """Mean next-token loss on original ids of the dynamic prefixes of ``batch`` followed by ``continuations``.

    ``rows`` are the merged tokens' input embeddings (gradients flow into them). Targets: every continuation token
    and, with ``prefix_loss``, the first original piece of each next prefix token (what the unmerged model predicts
    there); all texts are one right-padded forward.
    """
    _check_continuations(batch, continuations)
    seqs, targets = [], []
    for seq, cont in zip(batch.sequences, continuations, strict=True):
        inside = [batch.expand([t])[0] for t in seq[1:]] if prefix_loss else [-100] * (len(seq) - 1)
        targets.append(torch.as_tensor(inside + list(cont) + [-100], dtype=torch.long))
        seqs.append(torch.cat([embed(model, batch, rows, seq), embed(model, batch, rows, list(cont))]))
    inputs = pad_sequence(seqs, batch_first=True)
    labels = pad_sequence(targets, batch_first=True, padding_value=-100).to(inputs.device)
    mask = torch.zeros(labels.shape, dtype=torch.long, device=inputs.device)
    for r, s in enumerate(seqs):
        mask[r, : len(s)] = 1
    logits = model(inputs_embeds=inputs, attention_mask=mask).logits.float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))


def _check_continuations(batch: DynamicBatch, continuations: Sequence[Sequence[int]]) -> None:
    if len(continuations) != len(batch.sequences):
        raise ValueError(
            f"continuations must have one entry per text ({len(batch.sequences)}), got {len(continuations)}"
        )
    if not all(batch.sequences) or not all(continuations):
        raise ValueError("every prefix and continuation must hold at least one token")


@torch.no_grad()
def mean_pooled(model: Any, batch: DynamicBatch, predictor: EmbeddingPredictor) -> torch.Tensor:
    """Mean-pooled last hidden states ``[texts, d]`` of an encoder over each dynamic sequence (no special tokens)."""
    rows, _ = predicted_rows(model, batch, predictor)
    pooled = []
    for seq in batch.sequences:
        if not seq:
            raise ValueError("every text must hold at least one token")
        hidden = model(inputs_embeds=embed(model, batch, rows, seq)[None]).last_hidden_state[0]
        pooled.append(hidden.mean(0))
    return torch.stack(pooled)


def convert(model: Any, tokenizer: Any, new_tokenizer: Any) -> tuple[Any, Any]:
    """The ``tokenizers`` contract's conversion. Dynamic tokenization keeps the original tokenizer and model and adds
    merges per batch at run time, so it only accepts ``new_tokenizer`` with the same vocabulary and returns the model
    unchanged (nothing is resized or copied)."""
    if new_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise ValueError(
            "dynamic tokenization extends the model's own tokenizer at run time; new_tokenizer must have the same "
            "vocabulary (use transplant(..., method=...) to move to another tokenizer)"
        )
    return model, new_tokenizer


def contract() -> dict[str, Any]:
    """The `tokenizers` contract (tests/suites/README.md)."""
    return {"convert": convert}
