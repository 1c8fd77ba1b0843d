"""Draft models for DySpec: checks that a draft can serve a target, and a truncated-layer self-draft.

:func:`truncated_draft` builds "the first ``N`` decoder layers of the target + its final norm and head" as a new
model object that *shares* the target's weights (no copy, no extra memory beyond the module objects). It works for
Llama-style models (``model.model.layers``, ``.norm``, ``.embed_tokens``, ``.rotary_emb``) and GPT-2
(``transformer.h``), which covers every architecture in :mod:`hf_tokens.testing` and the bundled SmolLM2.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def vocab_size(model: Any) -> int:
    head = model.get_output_embeddings()
    if head is not None and getattr(head, "weight", None) is not None:
        return int(head.weight.shape[0])
    return int(model.config.vocab_size)


def check_companion(model: Any, other: Any, *, name: str, role: str, missing: str, mismatch: str) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``other`` (the ``name`` argument) is a decoder-only causal LM over
    ``model``'s vocabulary; ``role`` names ``model`` in the message, ``missing``/``mismatch`` say what to pass."""
    if other is None:
        raise ValueError(f"{name} is required: {missing}")
    if not isinstance(other, nn.Module) or not callable(getattr(other, "get_output_embeddings", None)):
        raise TypeError(f"{name} must be a transformers causal LM, got {type(other).__name__}")
    if getattr(other.config, "is_encoder_decoder", False):
        raise ValueError(f"{name} must be a decoder-only causal LM")
    v_model, v_other = vocab_size(model), vocab_size(other)
    if v_model != v_other:
        raise ValueError(f"{name} has a vocabulary of {v_other} tokens but {role} has {v_model}: {mismatch}")


def check_draft(model: Any, draft: Any) -> None:
    """Raise ``ValueError``/``TypeError`` unless ``draft`` is a causal LM over the same vocabulary as ``model``."""
    check_companion(
        model,
        draft,
        name="draft_model",
        role="the target",
        missing="pass a causal LM sharing the target's vocabulary, e.g. "
        "hf_tokens.generation.dyspec.truncated_draft(model, num_layers=4)",
        mismatch="DySpec needs a draft that shares the target's tokenizer and vocabulary",
    )


def truncated_draft(model: Any, num_layers: int) -> Any:
    """A causal LM made of the target's first ``num_layers`` layers, its final norm and its LM head (shared)."""
    if hasattr(model, "model") and hasattr(model.model, "layers"):
        layers = model.model.layers
        owner, attr = model.model, "layers"
    elif hasattr(model, "transformer") and hasattr(model.transformer, "h"):
        layers = model.transformer.h
        owner, attr = model.transformer, "h"
    else:
        raise TypeError(f"truncated_draft supports Llama-style and GPT-2 models, got {type(model).__name__}")
    total = len(layers)
    if not isinstance(num_layers, int) or not 1 <= num_layers <= total:
        raise ValueError(f"num_layers must be an int in [1, {total}], got {num_layers!r}")
    config = copy.deepcopy(model.config)
    if hasattr(config, "num_hidden_layers"):
        config.num_hidden_layers = num_layers
    if hasattr(config, "n_layer"):
        config.n_layer = num_layers
    if getattr(config, "layer_types", None) is not None:
        config.layer_types = list(config.layer_types)[:num_layers]
    with torch.device("meta"):
        draft = type(model)(config)
    # Share every submodule of the target, then swap the layer list for its first num_layers layers.
    draft_owner = draft.model if attr == "layers" else draft.transformer
    for name, module in owner.named_children():
        setattr(draft_owner, name, module)
    setattr(draft_owner, attr, nn.ModuleList(list(layers)[:num_layers]))
    for name, module in model.named_children():
        if module is not owner:
            setattr(draft, name, module)
    for name, buf in owner.named_buffers(recurse=False):
        draft_owner.register_buffer(name, buf, persistent=False)
    leftovers = [n for n, p in draft.named_parameters() if p.is_meta] + [
        n for n, b in draft.named_buffers() if b.is_meta
    ]
    if leftovers:
        raise TypeError(f"truncated_draft could not share these tensors of {type(model).__name__}: {leftovers[:5]}")
    draft.generation_config = copy.deepcopy(model.generation_config)
    return draft.eval()


def run_kwargs(model: Any, tokenizer: Any) -> dict[str, Any]:
    """The ``generate`` arguments of ``hf-tokens run --method dyspec``: the README's 8-layer truncated self-draft
    (fewer layers on a model that has no more than 8)."""
    total = int(model.config.get_text_config().num_hidden_layers)
    return {"draft_model": truncated_draft(model, max(1, min(8, total - 1)))}
