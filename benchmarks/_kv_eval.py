"""Evaluation loops shared by ``kv_cache.py`` and its kvpress worker (torch and this checkout's ``hf_tokens``; runs in
either venv)."""

from __future__ import annotations

import contextlib
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch


def cache_bytes(cache: Any) -> int:
    """Key+value bytes: the cache's own ``peak_bytes`` when it tracks them, else what it holds now (callers take the
    maximum over the steps, so a cache that a press shrinks during decoding is charged its largest size)."""
    peak = getattr(cache, "peak_bytes", None)
    if isinstance(peak, int):
        return peak
    total = 0
    for layer in getattr(cache, "layers", []):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    return total


@torch.no_grad()
def continuation_nll(
    model: Any, ctx: list[int], cont: list[int], cache: Any, press_context: Any = None
) -> dict[str, float]:
    """Prefill ``ctx`` into ``cache``, then feed ``cont`` one token at a time, all inside ``press_context`` (e.g. a
    kvpress press; prefill-only presses do nothing while decoding): the summed negative log-likelihood of ``cont``,
    decode tokens/s and the peak cache bytes between steps.

    Each forward is one ``hf_tokens.analysis.token_stats`` call that scores the next continuation token
    (``next_ids``) from the hidden state of the last position through the chunked LM head. Decoding passes explicit
    ``position_ids``: a kvpress-compressed ``DynamicCache`` reports its stored length as the sequence length, which
    would otherwise shift the rotary positions (our caches count every token and need none).
    """
    with press_context if press_context is not None else contextlib.nullcontext():
        return _continuation_nll(model, ctx, cont, cache)


def _import_hf_tokens() -> None:
    """Make ``hf_tokens`` importable: the kvpress worker's interpreter does not install it, so take this checkout's."""
    try:
        import hf_tokens  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _continuation_nll(model: Any, ctx: list[int], cont: list[int], cache: Any) -> dict[str, float]:
    _import_hf_tokens()
    from hf_tokens.analysis.token_stats import token_stats

    first = token_stats(
        model, input_ids=torch.tensor([ctx]), next_ids=[cont[0]], continuation_start=len(ctx), cache=cache,
        entropy=False,
    )  # fmt: skip
    nll = float(first.nll()[0])
    steps = []
    held = cache_bytes(cache)
    for t in range(len(cont) - 1):
        pos = torch.tensor([[len(ctx) + t]])
        start = time.perf_counter()
        step = token_stats(
            model, input_ids=torch.tensor([[cont[t]]]), next_ids=[cont[t + 1]], cache=cache, position_ids=pos,
            entropy=False,
        )  # fmt: skip
        steps.append(time.perf_counter() - start)
        nll += float(step.nll()[0])
        held = max(held, cache_bytes(cache))
    step_s = statistics.median(steps) if steps else math.inf
    return {
        "nll": nll,
        "tokens": len(cont),
        "tokens_per_s": 1.0 / step_s,  # median step latency: robust to other jobs on a shared machine
        "bytes": held,
    }


@torch.no_grad()
def greedy_answer(model: Any, prompt: list[int], cache: Any, new_tokens: int, press_context: Any = None) -> list[int]:
    """Greedy continuation of ``prompt``, token by token with explicit positions, inside ``press_context``."""
    _import_hf_tokens()
    from hf_tokens._compat import cache_kwarg

    answer: list[int] = []
    kw = {cache_kwarg(model): cache, "use_cache": True}  # `cache=` since transformers 5.25, else `past_key_values=`
    with press_context if press_context is not None else contextlib.nullcontext():
        out = model(input_ids=torch.tensor([prompt]), **kw)
        for step in range(new_tokens):
            nxt = int(out.logits[0, -1].argmax())
            answer.append(nxt)
            pos = torch.tensor([[len(prompt) + step]])
            out = model(input_ids=torch.tensor([[nxt]]), position_ids=pos, **kw)
    return answer
