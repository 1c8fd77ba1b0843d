"""``hf-tokens run --method cut-cross-entropy``: the model's training loss on its own answer, with and without logits.

Generates a greedy answer to the prompt, then computes the causal-LM loss (and its gradient) of prompt + answer twice:
the standard way (``model(..., labels=...)``, which materialises the ``[tokens x vocab]`` logits) and inside
:func:`cut_cross_entropy_loss`, which never does. Reports both losses, their difference and gradient agreement, and the
peak memory torch allocates for each forward + backward (whole model, measured). On CPU the float32 training path
holds one ``[chunk x vocab]`` block, so for a short text (fewer tokens than a chunk) its block is as large as the
logits and only torch's extra copies are saved; the saving grows with the token count
(``benchmarks/linear_cross_entropy.py``).
"""

from __future__ import annotations

import time
from typing import Any


def _loss_and_head_grad(model: Any, ids: Any) -> tuple[float, Any, float]:
    """Loss, lm_head gradient and the peak MB torch allocates during the forward + backward."""
    from hf_tokens.benchmarking import peak_allocated_bytes

    model.zero_grad(set_to_none=True)
    losses = []

    def step() -> None:
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        losses.append(float(loss.detach()))  # detached: a float of a tensor that requires grad warns

    peak = peak_allocated_bytes(step, ids.device.type) / 2**20
    grad = model.get_output_embeddings().weight.grad.detach().clone()
    model.zero_grad(set_to_none=True)
    return losses[0], grad, peak


def demo(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> dict[str, Any]:
    import torch

    from hf_tokens.demo import encode_prompt
    from hf_tokens.ops.linear_cross_entropy.hf import cut_cross_entropy_loss

    inputs = encode_prompt(tokenizer, prompt, chat=True)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    seconds = time.perf_counter() - start
    prompt_len = inputs["input_ids"].shape[1]
    ids = out.clone()
    standard, grad_std, peak_std = _loss_and_head_grad(model, ids)
    with cut_cross_entropy_loss(model):
        cut, grad_cut, peak_cut = _loss_and_head_grad(model, ids)
    return {
        "text": tokenizer.decode(out[0, prompt_len:], skip_special_tokens=True),
        "new_tokens": out.shape[1] - prompt_len,
        "seconds": seconds,
        "loss_standard": round(standard, 6),
        "loss_cut_cross_entropy": round(cut, 6),
        "abs_difference": abs(standard - cut),
        "head_grad_max_abs_difference": float((grad_std - grad_cut).abs().max()),
        "peak_mb_standard": round(peak_std, 1),
        "peak_mb_cut_cross_entropy": round(peak_cut, 1),
    }
