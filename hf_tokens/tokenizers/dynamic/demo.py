"""``hf-tokens run --method dynamic-tokenization``: prefill the prompt in dynamic tokens, continue greedily."""

from __future__ import annotations

import time
from typing import Any


def demo(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, *, merges: int | None = None) -> dict[str, Any]:
    """Merge the prompt's words with batch-level BPE (a batch of one prompt; ``merges=None`` merges every
    multi-token word into one dynamic token), embed merged tokens with :class:`MeanPiecesPredictor`, and let
    ``generate`` continue from ``inputs_embeds``."""
    import torch

    from hf_tokens.tokenizers.dynamic.apply import embed, predicted_rows
    from hf_tokens.tokenizers.dynamic.merges import batch_bpe
    from hf_tokens.tokenizers.dynamic.predictor import MeanPiecesPredictor

    if getattr(tokenizer, "chat_template", None):  # the same chat formatting as the plain `hf-tokens run`
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                               tokenize=False)  # fmt: skip
    batch = batch_bpe(tokenizer, [prompt], merges=merges)
    rows, _ = predicted_rows(model, batch, MeanPiecesPredictor(model))
    embeds = embed(model, batch, rows, batch.sequences[0])[None]
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(
            inputs_embeds=embeds,
            attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
        )
    return {
        "text": tokenizer.decode(out[0], skip_special_tokens=True),
        "new_tokens": int(out.shape[1]),
        "seconds": time.perf_counter() - start,
        "prompt_tokens_original": batch.original_length,
        "prompt_tokens_dynamic": batch.dynamic_length,
        "dynamic_tokens": [tokenizer.decode(list(d)) for d in batch.decompositions],
    }
