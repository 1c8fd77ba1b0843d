"""The main job behind ``hf-tokens run``: run a method on a model with a prompt, print the output and its effect.

Plain greedy generation is the baseline. A cache method generates with its cache at the README's 20% budget and
reports what it kept (fraction of the full cache, peak bytes, tokens attended); a generation strategy runs through
``custom_generate`` and reports its accepted tokens per step where it keeps ``decoding_stats``. Both are compared
with the plain run (identical output, speed of this one run). Other methods provide a ``demo`` entry in the registry.
Nothing here uses the test fixtures of :mod:`hf_tokens.testing`: every run uses the given model and tokenizer.
"""

from __future__ import annotations

import importlib
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from hf_tokens._compat import cache_kwarg, has_parameter
from hf_tokens.registry import MethodSpec, get

CACHE_BUDGET = 0.2  # the budget the README's cache numbers are measured at
NOISY_SECONDS = 20.0  # a single timed run shorter than this cannot show a speed-up of a few tens of percent


@dataclass
class RunResult:
    method: str
    text: str
    new_tokens: int
    seconds: float
    effects: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

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
    """Key + value bytes a cache holds now."""
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
    if spec.extension == "cache":
        out, result = _run_cache(spec, model, inputs, max_new_tokens, plain)
    elif spec.extension == "generation":
        out, result = _run_generation(spec, model, tokenizer, inputs, max_new_tokens)
    else:
        raise ValueError(
            f"method {spec.id!r} ({spec.extension}) has no demo for `hf-tokens run`; see `hf-tokens info {spec.id}`"
        )
    result.text = decode(out)
    result.new_tokens = out.shape[1] - prompt_len
    same = out.shape == plain_out.shape and bool((out == plain_out).all())
    result.effects.update(
        identical_to_plain_greedy=same, speedup_vs_plain=result.tokens_per_second / plain.tokens_per_second
    )
    if min(plain.seconds, result.seconds) < NOISY_SECONDS:
        result.notes.append(
            f"speedup_vs_plain comes from one short run ({plain.seconds:.1f} s plain, {result.seconds:.1f} s "
            "method): too noisy to show a speed-up on a shared CPU; the benchmark measures it over many prompts "
            f"(median of repeats): {spec.benchmark}"
        )
    return result, plain


def _run_cache(
    spec: MethodSpec, model: Any, inputs: dict[str, Any], max_new_tokens: int, plain: RunResult
) -> tuple[Any, RunResult]:
    cache = spec.load("entry")(model.config, budget=CACHE_BUDGET)
    out, secs = _timed_generate(model, inputs, max_new_tokens=max_new_tokens, **{cache_kwarg(): cache})
    result = RunResult(spec.id, "", 0, secs)
    full = max(1, plain.effects["cache_bytes"])
    stored = _stored_bytes(cache)
    effects: dict[str, Any] = {"budget": f"{CACHE_BUDGET:.0%} of the tokens seen", "kept_fraction": stored / full}
    peak = getattr(cache, "peak_bytes", None)
    if isinstance(peak, int) and peak > 0:
        effects.update(peak_cache_bytes=peak, full_cache_bytes=full, peak_vs_full=peak / full)
    attended = [  # per layer, the share of its stored tokens the last query attended to
        layer.last_attended / layer.stored_tokens()
        for layer in getattr(cache, "layers", [])
        if getattr(layer, "last_attended", None) and callable(getattr(layer, "stored_tokens", None))
    ]
    sparse = [a for a in attended if a < 1.0]  # TidalDecode's selection layers attend to everything
    if attended:
        effects["attended_fraction"] = statistics.fmean(sparse) if sparse else 1.0
        effects["sparse_layers"] = f"{len(sparse)} of {len(attended)}"
    result.effects.update(effects)
    seen = inputs["input_ids"].shape[1] + max_new_tokens
    result.notes.append(
        f"this run sees about {seen} tokens, so {CACHE_BUDGET:.0%} is about {round(CACHE_BUDGET * seen)} per layer; "
        f"the README's perplexity ratios are over 2k-token contexts: {spec.benchmark}"
    )
    return out, result


def custom_generate_of(spec: MethodSpec) -> Any:
    """The ``custom_generate`` callable of a generation method (its package's ``generate``)."""
    module = spec.package or (spec.entry or "").partition(":")[0]
    fn = getattr(importlib.import_module(str(module)), "generate", None)
    if not callable(fn):
        raise ValueError(f"method {spec.id!r}: {module} has no custom_generate callable `generate`")
    return fn


def _run_generation(
    spec: MethodSpec, model: Any, tokenizer: Any, inputs: dict[str, Any], max_new_tokens: int
) -> tuple[Any, RunResult]:
    generate = custom_generate_of(spec)
    kwargs = dict(spec.load("run_kwargs")(model, tokenizer)) if spec.run_kwargs else {}
    stats: dict[str, Any] = {}
    if has_parameter(generate, "decoding_stats"):
        kwargs["decoding_stats"] = stats
    out, secs = _timed_generate(model, inputs, max_new_tokens=max_new_tokens, custom_generate=generate, **kwargs)
    result = RunResult(spec.id, "", 0, secs)
    if "mean_accepted" in stats:
        result.effects.update(
            accepted_tokens_per_step=stats["mean_accepted"],
            verification_steps=stats.get("steps"),
            mean_tree_nodes=stats.get("mean_tree_nodes"),
        )
    return out, result
