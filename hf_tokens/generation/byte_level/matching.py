"""Does a tokenizer belong to a model? The guard :class:`ByteLevelLM` runs before wrapping them.

A byte-level LM reads the model's next-token distribution through the tokenizer's token bytes, so a tokenizer from
another model gives a wrong distribution without any error (SmolLM2 with the Mistral tokenizer: same eos id, fewer
tokens) or ids past the model's output layer (GPT-2's tokenizer on SmolLM2). Special-token ids do not tell them apart
(both of those examples share eos/bos ids with some other model), so two checks are made:

* **sizes**: every text token id must have a row in the model's output layer, and the layer may have only a few
  percent more rows than the tokenizer has ids (models pad their vocabulary to a multiple of 64 or 128; Qwen2.5 has
  151,936 rows for 151,665 ids);
* **calibration**: one forward over a fixed English-and-code text encoded by the tokenizer. A trained model that
  reads its own tokenizer's encoding is about as surprised as its own predictions say (mean negative log-likelihood
  of the observed tokens ~ mean entropy of its predictions: 3.25 vs 3.17 nats for SmolLM2-135M). Under another
  tokenizer the ids are noise to it while it stays confident (12.5 vs 6.0 with Mistral's, 12.2 vs 6.1 with GPT-2's
  ids folded into range), so a gap above :data:`MAX_SURPRISE_GAP` nats per token is refused. An untrained (random)
  model is about uniform, so its gap stays small (0.2 to 1.6 nats for the tests' tiny models) and it passes.
"""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.generation.byte_level.vocab import ByteVocab

PROBE_TEXT = (
    "The quick brown fox jumps over the lazy dog. On Monday morning, the children walked to school and "
    "talked about the weather.\ndef add(a, b):\n    return a + b\n"
)
MAX_SURPRISE_GAP = 3.0  # nats per token
MAX_PADDING = 0.05  # share of output rows beyond the tokenizer's ids (plus 128)


def output_rows(model: Any) -> int | None:
    """Rows of the model's output layer (its vocabulary size), or None when it has no output embeddings."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    if weight is not None:
        return int(weight.shape[0])
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    return int(size) if size is not None else None


def check_sizes(model: Any, vocab: ByteVocab) -> None:
    """Refuse (``ValueError``) a tokenizer whose text ids do not fit the model's output rows, or a model with far
    more rows than the tokenizer has ids."""
    rows = output_rows(model)
    if rows is None:
        return
    top = int(vocab.text_ids.max())
    if top >= rows:
        raise ValueError(
            f"tokenizer does not match the model: it has token ids up to {top}, the model's output layer only "
            f"{rows} rows; pass the model's own tokenizer"
        )
    if rows > vocab.vocab_size * (1 + MAX_PADDING) + 128:
        raise ValueError(
            f"tokenizer does not match the model: {vocab.vocab_size} token ids for a model with {rows} output rows "
            "(more than a few percent of padding rows); pass the model's own tokenizer or check_tokenizer=False"
        )


@torch.no_grad()
def surprise_gap(model: Any, vocab: ByteVocab, start_ids: tuple[int, ...]) -> tuple[float, float]:
    """Mean negative log-likelihood and mean entropy (nats per token) of the model over :data:`PROBE_TEXT` as
    encoded by the tokenizer, after ``start_ids``."""
    ids = [*start_ids, *vocab.backend.encode(PROBE_TEXT, add_special_tokens=False).ids]
    device = next(model.parameters()).device
    x = torch.tensor([ids], device=device)
    logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0, len(start_ids) - 1 : -1].float()
    logp = torch.log_softmax(logits, dim=-1)
    target = x[0, len(start_ids) :]
    nll = -logp.gather(-1, target[:, None]).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return float(nll.mean()), float(entropy.mean())


def check_tokenizer_matches(model: Any, vocab: ByteVocab, start_ids: tuple[int, ...]) -> None:
    """Both checks of the module docstring; ``ValueError`` with one line naming the numbers when one fails."""
    check_sizes(model, vocab)
    nll, entropy = surprise_gap(model, vocab, start_ids)
    if nll - entropy > MAX_SURPRISE_GAP:
        raise ValueError(
            f"tokenizer does not match the model: on a fixed English/code text the model's loss is {nll:.1f} "
            f"nats/token against the {entropy:.1f} its own predictions expect (a matching tokenizer gives about "
            "equal numbers); pass the model's own tokenizer or check_tokenizer=False"
        )
