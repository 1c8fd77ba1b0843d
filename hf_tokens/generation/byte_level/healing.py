"""Token healing with the defects of transformers' ``token_healing=True`` fixed: a prompt-boundary baseline.

The algorithm (Microsoft guidance's token healing) is unchanged: drop the prompt's last token and constrain the first
generated token to those whose bytes start with the dropped token's bytes. Unlike the stock version it works on
bytes (tokens that start with a space are healed too), keeps the prompt's trailing whitespace, never looks up
special tokens, and builds its prefix index once (:class:`ByteVocab`).
"""

from __future__ import annotations

from typing import Any

import torch

from hf_tokens.generation.byte_level.vocab import ByteVocab


@torch.no_grad()
def heal_tokens_fixed(model: Any, vocab: ByteVocab, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
    """Greedy continuation ids of ``prompt_ids[:-1]`` whose first token extends the dropped last prompt token."""
    if not prompt_ids:
        raise ValueError("prompt_ids must not be empty")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    tail = vocab.token_bytes[prompt_ids[-1]]
    head = prompt_ids[:-1]
    if not tail or not head:
        context = torch.tensor([prompt_ids], device=model.device)
        out = model.generate(
            context, attention_mask=torch.ones_like(context), max_new_tokens=max_new_tokens, do_sample=False
        )
        return out[0, context.shape[1] :].tolist()
    context = torch.tensor([head], device=model.device)
    logits = model(context).logits[0, -1]
    allowed = torch.from_numpy(vocab.with_prefix(tail)).to(logits.device)
    first = int(allowed[torch.argmax(logits[allowed])])
    seq = torch.tensor([[*head, first]], device=model.device)
    rest: list[int] = []
    if max_new_tokens > 1 and first not in vocab.eos_ids:
        out = model.generate(
            seq, attention_mask=torch.ones_like(seq), max_new_tokens=max_new_tokens - 1, do_sample=False
        )
        rest = out[0, seq.shape[1] :].tolist()
    return [first, *rest]
