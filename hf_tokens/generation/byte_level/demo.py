"""``hf-tokens run --method byte-level-probs``: exact byte-level greedy decoding with the model's own tokenizer.

Decodes the (chat-formatted) prompt byte by byte from the exact next-byte distribution and compares it with token
greedy, then shows the prompt-boundary effect the method exists for: the prompt's last word cut inside a token, the
most probable next bytes there, and what token greedy and byte-level decoding (``prompt_boundary="bytes_then_tokens"``)
continue with.
"""

from __future__ import annotations

import time
from typing import Any


def _cut_inside_a_token(tokenizer: Any, prompt: str) -> str | None:
    """``prompt`` cut one character before the end of its last token with at least two non-space characters."""
    enc = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    for start, end in reversed(enc["offset_mapping"]):
        if len(prompt[start:end].strip()) > 1:
            return prompt[: end - 1]
    return None


def _top_bytes(dist: Any, k: int = 3) -> str:
    values, indices = dist.topk(k)
    shown = [(bytes([b]) if b < 256 else b"<end>").decode("utf-8", "replace") for b in indices.tolist()]
    return ", ".join(f"{s!r}: {p:.3f}" for s, p in zip(shown, values.tolist()))


def demo(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> dict[str, Any]:
    import torch

    from hf_tokens.demo import encode_prompt
    from hf_tokens.generation.byte_level.custom_generate import generate
    from hf_tokens.generation.byte_level.decoding import split_prompt
    from hf_tokens.generation.byte_level.lm import ByteLevelLM

    lm = ByteLevelLM(model, tokenizer)  # the tokenizer of the model being run (refused if it does not match)
    inputs = encode_prompt(tokenizer, prompt, chat=True)
    n = inputs["input_ids"].shape[1]
    start_ids, stream = split_prompt(lm, inputs["input_ids"][0].tolist())
    first = _top_bytes(lm.distribution(lm.start_stream(stream, start_ids=start_ids)))
    with torch.inference_mode():
        start = time.perf_counter()
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, custom_generate=generate, byte_lm=lm)
        seconds = time.perf_counter() - start
        plain = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    new = lm.vocab.decode(out[0, n:].tolist())
    plain_new = lm.vocab.decode(plain[0, n:].tolist())
    same = next((i for i, (a, b) in enumerate(zip(new, plain_new)) if a != b), min(len(new), len(plain_new)))
    effects: dict[str, Any] = {
        "mode": "exact byte-level greedy (prompt_boundary='bytes')",
        "bytes_per_second": len(new) / seconds if seconds > 0 else float("nan"),
        "bytes_equal_to_token_greedy": f"{same} of {len(new)}",
        # byte greedy sums every token that starts with a byte ("L", "La", "Le"...), token greedy takes one token
        "first_byte_top3": first,
    }
    if same < min(len(new), len(plain_new)):
        effects["why_it_differs"] = (
            "byte greedy takes the byte with the most probability summed over all tokens that start with it "
            "(first_byte_top3), token greedy the single most probable token; both are exact greedy rules"
        )
    cut = _cut_inside_a_token(tokenizer, prompt)
    if cut is not None:
        effects["cut_prompt"] = repr(cut)
        effects["next_bytes_after_cut"] = _top_bytes(lm.next_byte_distribution(cut))
        ids = tokenizer(cut, return_tensors="pt")
        k = ids["input_ids"].shape[1]
        budget = min(8, max_new_tokens)
        with torch.inference_mode():
            plain_cut = model.generate(**ids, max_new_tokens=budget, do_sample=False)
            ours_cut = model.generate(
                **ids, max_new_tokens=budget, custom_generate=generate, byte_lm=lm, prompt_boundary="bytes_then_tokens"
            )
        effects["cut_token_greedy"] = repr(lm.vocab.decode(plain_cut[0, k:].tolist()).decode("utf-8", "replace"))
        effects["cut_byte_level"] = repr(lm.vocab.decode(ours_cut[0, k:].tolist()).decode("utf-8", "replace"))
    return {
        "text": new.decode("utf-8", "replace"),
        "new_tokens": out.shape[1] - n,
        "seconds": seconds,
        **effects,
    }
