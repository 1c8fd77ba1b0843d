"""Needle Threading harness (arXiv 2411.05000): accuracy of any HF causal LM vs context length and needle depth.

    report = needle_threading(model, tokenizer, tasks=("single", "threading"), context_tokens=(1024, 2048),
                              depths=(0.0, 0.5, 1.0), repeats=2)
    report.rows  # one per (task, context_tokens, depth): accuracy, characters and tokens of the haystacks

``cache=`` takes a factory ``config -> transformers.Cache`` (e.g. ``lambda c: H2OCache(c, budget=0.2)``): every
example then prefills and decodes with a fresh cache from it, so the library's KV caches get a threading score
under the same prompts. Decoding is greedy (``max_new_tokens`` per example; the answer is parsed from the JSON the
model writes). The prompts and their scoring live in :mod:`hf_tokens.analysis.needle_threading.tasks`.

Deviations from the paper, named: the haystacks are smaller (a 135M model on a CPU, not 17 frontier models at up to
900k tokens); identifiers may be shorter than UUIDs (``id_chars``); the prompt ends with the opening of the JSON
answer (the paper asks instruction-tuned models for a JSON answer in a chat turn), so base models can be scored too;
a thread's later pairs are placed at random positions (the paper also studies forward/backward-only threads).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from hf_tokens.analysis.needle_threading.tasks import TASKS, build_example, score


@dataclass
class NeedleThreadingConfig:
    """Grid of the Needle Threading evaluation (arXiv 2411.05000)."""

    tasks: list[str] = field(default_factory=lambda: list(TASKS), metadata={"help": f"tasks among {TASKS}"})
    context_tokens: list[int] = field(default_factory=lambda: [1024], metadata={"help": "haystack sizes in tokens"})
    depths: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0], metadata={"help": "needle depths in [0,1]"})
    repeats: int = field(default=2, metadata={"help": "examples per (task, length, depth)"})
    seed: int = field(default=0, metadata={"help": "seed of the haystacks"})
    id_chars: int = field(
        default=32, metadata={"help": "hex characters per key/value (32: UUID-shaped); -n: n English words"}
    )
    needles: int = field(default=3, metadata={"help": "keys asked at once (multiple, conditional, multi_threading)"})
    hops: int = field(default=3, metadata={"help": "pairs in a thread (threading tasks)"})
    max_new_tokens: int = field(default=0, metadata={"help": "answer budget; 0 = enough for the expected answer"})
    progress: bool = field(default=False, metadata={"help": "show a progress bar over the examples (tqdm)"})

    def __post_init__(self) -> None:
        if isinstance(self.tasks, str) or not self.tasks or any(t not in TASKS for t in self.tasks):
            raise ValueError(f"tasks must be a non-empty list of {TASKS}, got {self.tasks!r}")
        if not self.context_tokens or any(isinstance(n, bool) or not isinstance(n, int) or n < 16
                                          for n in self.context_tokens):  # fmt: skip
            raise ValueError(f"context_tokens must be a non-empty list of ints >= 16, got {self.context_tokens!r}")
        if not self.depths or any(isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d <= 1
                                  for d in self.depths):  # fmt: skip
            raise ValueError(f"depths must be a non-empty list of numbers in [0, 1], got {self.depths!r}")
        if isinstance(self.id_chars, bool) or not isinstance(self.id_chars, int) or -1 <= self.id_chars < 4:
            raise ValueError(f"id_chars must be an int >= 4 (hex characters) or <= -2 (words), got {self.id_chars!r}")
        for name, low in (("repeats", 1), ("needles", 1), ("hops", 1), ("max_new_tokens", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not isinstance(self.progress, bool):
            raise TypeError(f"progress must be a bool, got {type(self.progress).__name__}")
        self.tasks, self.context_tokens = list(self.tasks), list(self.context_tokens)
        self.depths = [float(d) for d in self.depths]


@dataclass
class NeedleThreadingReport:
    """Accuracy per (task, context length, depth) and the haystacks' sizes in characters and tokens."""

    model: str
    cache: str | None
    config: dict[str, Any]
    rows: list[dict[str, Any]]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeedleThreadingReport:
        return cls(**data)

    def accuracy(self, task: str | None = None, context_tokens: int | None = None) -> float:
        """Mean accuracy over the rows matching ``task`` / ``context_tokens`` (all when None)."""
        sel = [r["accuracy"] for r in self.rows if task in (None, r["task"]) and context_tokens in (None, r["tokens"])]
        if not sel:
            raise ValueError(f"no rows for task={task!r}, context_tokens={context_tokens!r}")
        return statistics.fmean(sel)


def _answer_budget(tokenizer: Any, answers: dict[str, str], task: str) -> int:
    text = "".join(f'"{k}": "{v}", ' for k, v in answers.items())
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 8


@torch.no_grad()
def _complete(model: Any, tokenizer: Any, prompt: str, n: int, cache: Callable[[Any], Any] | None) -> str:
    from hf_tokens._compat import cache_kwarg

    enc = tokenizer(prompt, return_tensors="pt")
    device = model.get_input_embeddings().weight.device
    kwargs: dict[str, Any] = {"max_new_tokens": n, "do_sample": False}
    if cache is not None:
        kwargs[cache_kwarg()] = cache(model.config)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = model.generate(**{k: v.to(device) for k, v in enc.items()}, pad_token_id=pad, **kwargs)
    return tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def needle_threading(
    model: Any,
    tokenizer: Any,
    config: NeedleThreadingConfig | None = None,
    *,
    cache: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> NeedleThreadingReport:
    """Run the Needle Threading grid on ``model`` (see the module docstring).

    Args:
        model: a transformers causal LM; tokenizer: its tokenizer.
        config: a :class:`NeedleThreadingConfig`, or its fields as keyword arguments.
        cache: a factory ``config -> Cache`` used for every example (None: the model's default cache).
    """
    if config is not None and kwargs:
        raise ValueError("pass either config=NeedleThreadingConfig(...) or its fields as keyword arguments, not both")
    if config is not None and not isinstance(config, NeedleThreadingConfig):
        raise TypeError(f"config must be a NeedleThreadingConfig, got {type(config).__name__}")
    if cache is not None and not callable(cache):
        raise TypeError(f"cache must be a factory config -> Cache (a callable), got {type(cache).__name__}")
    cfg = config or NeedleThreadingConfig(**kwargs)
    vocab = model.get_output_embeddings().weight.shape[0]
    if len(tokenizer) > vocab:
        raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, the model's head {vocab}: they do not match")
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and max(cfg.context_tokens) + 256 > limit:
        raise ValueError(f"context_tokens up to {max(cfg.context_tokens)} exceed the model's {limit} positions")
    was_training = model.training
    model.eval()
    rows, begin = [], time.perf_counter()
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        total = len(cfg.tasks) * len(cfg.context_tokens) * len(cfg.depths) * cfg.repeats
        bar = tqdm(total=total, desc="needle threading", unit="example")
    try:
        for task in cfg.tasks:
            for n_tokens in cfg.context_tokens:
                for depth in cfg.depths:
                    scores, chars, toks = [], [], []
                    for rep in range(cfg.repeats):
                        ex = build_example(task, tokenizer, context_tokens=n_tokens, depth=depth, seed=cfg.seed + rep,
                                           id_chars=cfg.id_chars, needles=cfg.needles, hops=cfg.hops)  # fmt: skip
                        budget = cfg.max_new_tokens or _answer_budget(tokenizer, ex.answers, task)
                        scores.append(score(ex, _complete(model, tokenizer, ex.prompt, budget, cache)))
                        chars.append(ex.context_chars)
                        toks.append(ex.context_tokens)
                        if bar is not None:
                            bar.update()
                    rows.append({
                        "task": task, "tokens": n_tokens, "depth": depth, "accuracy": statistics.fmean(scores),
                        "examples": len(scores), "context_chars": statistics.fmean(chars),
                        "context_tokens": statistics.fmean(toks),
                        "chars_per_token": statistics.fmean(chars) / statistics.fmean(toks),
                    })  # fmt: skip
    finally:
        model.train(was_training)
        if bar is not None:
            bar.close()
    name = str(getattr(model, "name_or_path", "") or type(model).__name__)
    cache_name = None if cache is None else str(getattr(cache, "__name__", None) or type(cache).__name__)
    return NeedleThreadingReport(
        name, cache_name, dataclasses.asdict(cfg), rows, round(time.perf_counter() - begin, 3)
    )


def contract() -> dict[str, Any]:
    """Analysis contract: a small grid on a seeded tiny model (timings zeroed)."""

    def make_report(seed: int) -> dict[str, Any]:
        from hf_tokens.testing import tiny_model, tiny_tokenizer

        model, tok = tiny_model("llama", seed=seed), tiny_tokenizer()
        cfg = NeedleThreadingConfig(tasks=["single", "threading"], context_tokens=[128], depths=[0.5], repeats=1,
                                    seed=seed, id_chars=4, max_new_tokens=4)  # fmt: skip
        report = needle_threading(model, tok, cfg).to_dict()
        report["seconds"] = 0.0
        return report

    return {"make_report": make_report}


__all__ = ["NeedleThreadingConfig", "NeedleThreadingReport", "contract", "needle_threading"]
