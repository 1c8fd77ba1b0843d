"""The main job behind ``hf-tokens run``: run a method on a model with a prompt, print the output and its effect.

Plain greedy generation is the baseline. A cache method generates with its cache (budget from its contract), a
generation strategy through ``custom_generate``; both are compared with the plain run (speed, agreement, cache size).
Other methods provide a ``demo`` entry in the registry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hf_tokens._compat import cache_kwarg
from hf_tokens.registry import get


@dataclass
class RunResult:
    method: str
    text: str
    new_tokens: int
    seconds: float
    effects: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")


def encode_prompt(tokenizer: Any, prompt: str, *, chat: bool) -> dict[str, Any]:
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string")
    if chat and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
    return tokenizer(prompt, return_tensors="pt")


def _timed_generate(model: Any, inputs: dict[str, Any], **kwargs: Any) -> tuple[Any, float]:
    import torch

    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**inputs, do_sample=False, **kwargs)
    return out, time.perf_counter() - start


def _stored_bytes(cache: Any) -> int:
    total = 0
    for layer in getattr(cache, "layers", []):
        for name in ("keys", "values"):
            t = getattr(layer, name, None)
            if t is not None and hasattr(t, "numel"):
                total += t.numel() * t.element_size()
    return total


def run(
    method: str | None, model: Any, tokenizer: Any, prompt: str, *, max_new_tokens: int = 64, chat: bool = True
) -> tuple[RunResult, RunResult | None]:
    """Run plain greedy generation and, if ``method`` is given, the method; return ``(method_result, plain)``.

    With ``method=None`` only the plain run is made and returned as the first element.
    """
    from transformers import DynamicCache

    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    spec = get(method) if method else None
    if spec is not None and not spec.implemented:
        raise ValueError(
            f"method {spec.id!r} is planned, not implemented yet; `hf-tokens list --implemented` shows those"
        )
    inputs = encode_prompt(tokenizer, prompt, chat=chat)
    prompt_len = inputs["input_ids"].shape[1]

    def decode(out: Any) -> str:
        return tokenizer.decode(out[0, prompt_len:], skip_special_tokens=True)

    full_cache = DynamicCache(config=model.config)
    plain_out, plain_s = _timed_generate(model, inputs, max_new_tokens=max_new_tokens, **{cache_kwarg(): full_cache})
    plain = RunResult("plain greedy", decode(plain_out), plain_out.shape[1] - prompt_len, plain_s)
    plain.effects["cache_bytes"] = _stored_bytes(full_cache)
    if spec is None:
        return plain, None

    if spec.demo:
        data = dict(spec.load("demo")(model, tokenizer, prompt, max_new_tokens))
        text = str(data.pop("text", ""))
        return RunResult(spec.id, text, int(data.pop("new_tokens", 0)), float(data.pop("seconds", 0.0)), data), plain
    contract = spec.load("contract")() if spec.contract else {}
    if spec.extension == "cache":
        budget = max(8, (prompt_len + max_new_tokens) // 2)
        make = contract.get("budgeted") or None
        cache = make(model.config, budget) if make else contract["factory"](model.config)
        out, secs = _timed_generate(model, inputs, max_new_tokens=max_new_tokens, **{cache_kwarg(): cache})
        result = RunResult(spec.id, decode(out), out.shape[1] - prompt_len, secs)
        result.effects.update(
            budget_tokens=budget if make else "all (selection at attention time)",
            cache_bytes=_stored_bytes(cache),
            cache_bytes_ratio=_stored_bytes(cache) / max(1, plain.effects["cache_bytes"]),
        )
    elif spec.extension == "generation":
        extra = contract.get("make_kwargs", lambda m: {})(model)
        out, secs = _timed_generate(
            model, inputs, max_new_tokens=max_new_tokens, custom_generate=contract["generate"], **extra
        )
        result = RunResult(spec.id, decode(out), out.shape[1] - prompt_len, secs)
    else:
        raise ValueError(
            f"method {spec.id!r} ({spec.extension}) has no demo for `hf-tokens run`; see `hf-tokens info {spec.id}`"
        )
    same = out.shape == plain_out.shape and bool((out == plain_out).all())
    result.effects.update(
        identical_to_plain_greedy=same, speedup_vs_plain=result.tokens_per_second / plain.tokens_per_second
    )
    return result, plain
