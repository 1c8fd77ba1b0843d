"""Unconditional Token Forcing (arXiv 2406.02481): find text hidden in a causal LM by forcing every vocabulary token.

The paper's attack: a fingerprint (or steganographic message) planted by fine-tuning ``trigger -> hidden text`` is
meant to stay secret because the trigger cannot be guessed. But the fine-tuning also teaches the model the hidden
text's own token-to-token transitions, so feeding the *first token of the hidden text alone* (no chat template, no
trigger: "unconditional") makes greedy decoding reproduce the rest of it with abnormally high token probabilities.
Forcing every token of the vocabulary and ranking the greedy continuations by their mean token probability therefore
brings the hidden text to the top of the list, without knowing the trigger.

    report = token_forcing(model, tokenizer, max_new_tokens=8)
    report.candidates[0].text, report.candidates[0].mean_prob

How it runs here: every start token is one row of a batch of equal-length rows (no padding, no mask), decoded
greedily for ``max_new_tokens`` steps with a KV cache; each step runs the model body once
(:func:`~hf_tokens.analysis.lm_head.forward_hidden`, no ``[B, T, V]`` logits) and the head's argmax and its
log-probability come from the chunked :func:`~hf_tokens.ops.linear_cross_entropy.summary.linear_softmax_summary`
(the same path as :func:`~hf_tokens.analysis.token_stats`). Cost: ``|V| x max_new_tokens`` one-token forwards in
batches of ``batch_size``.

Scoring and ranking (the paper: mean token probability of the greedy output; candidates are the sequences with the
highest). Deviations and additions, all named:

* ``min_distinct``: continuations made of fewer distinct tokens (runs of newlines, ``-----``) have near-1
  probabilities in any pretrained model; they are kept in the statistics but not ranked. Set ``min_distinct=0``
  for the paper's plain ranking.
* Screening (off by default, ``screen_min_prob=0``): to fit a CPU budget, every start token is decoded for
  ``screen_steps`` tokens and only those whose mean probability so far reaches ``screen_min_prob`` are decoded to
  the end (their rows are cut out of the batch and its cache); the others are counted in ``screened_out`` and not
  ranked (``mean_prob_stats`` and the z-scores then use their mean over the screened tokens only). The paper
  decodes every start to the end; the hypothesis it rests on (the hidden text's tokens are all abnormally likely)
  is what makes the screen safe for a planted text, not for every candidate.
* Decoding stops at the tokenizer's eos: the mean covers the tokens up to and including it.
* Each candidate also reports its z-score against the mean-probability distribution over all forced tokens (how
  abnormal it is), the minimum token probability and whether the continuation repeats its start token (the paper's
  observation that forcing a fingerprint's first token often makes the model repeat the fingerprint).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from hf_tokens._compat import cache_kwarg
from hf_tokens.analysis.lm_head import LMHead, forward_hidden


@dataclass
class TokenForcingConfig:
    """Settings of :func:`token_forcing` (Unconditional Token Forcing, arXiv 2406.02481)."""

    max_new_tokens: int = field(default=8, metadata={"help": "greedy tokens decoded after each forced start token"})
    batch_size: int = field(default=256, metadata={"help": "start tokens decoded together (one KV-cached batch)"})
    top_k: int = field(default=20, metadata={"help": "candidates kept in the report, best first"})
    min_distinct: int = field(
        default=3,
        metadata={"help": "continuations with fewer distinct tokens are not ranked (0 = rank every continuation)"},
    )
    token_ids: list[int] | None = field(
        default=None, metadata={"help": "the start tokens to force (default: the whole vocabulary but specials)"}
    )
    prefix_ids: list[int] = field(
        default_factory=list, metadata={"help": "tokens fed before every start token (default none: unconditional)"}
    )
    skip_special: bool = field(default=True, metadata={"help": "leave the tokenizer's special tokens out"})
    progress: bool = field(default=False, metadata={"help": "show a progress bar over the batches (tqdm)"})
    screen_steps: int = field(default=2, metadata={"help": "tokens decoded for every start before screening"})
    screen_min_prob: float = field(
        default=0.0,
        metadata={"help": "continue only starts whose first screen_steps tokens average this probability (0 = all)"},
    )

    def __post_init__(self) -> None:
        ints = (("max_new_tokens", 1), ("batch_size", 1), ("top_k", 1), ("min_distinct", 0), ("screen_steps", 1))
        for name, low in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if self.min_distinct > self.max_new_tokens:
            raise ValueError(
                f"min_distinct ({self.min_distinct}) cannot exceed max_new_tokens ({self.max_new_tokens}): no "
                "continuation could be ranked"
            )
        for name in ("token_ids", "prefix_ids"):
            ids = getattr(self, name)
            if ids is None:
                continue
            if isinstance(ids, (str, bytes)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise TypeError(f"{name} must be a list of int token ids, got {ids!r}")
            setattr(self, name, [int(i) for i in ids])
        if self.token_ids is not None and not self.token_ids:
            raise ValueError("token_ids must hold at least one token id (or be None for the whole vocabulary)")
        p = self.screen_min_prob
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"screen_min_prob must be a number in [0, 1], got {p!r}")
        self.screen_min_prob = float(p)
        for name in ("skip_special", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool, got {type(getattr(self, name)).__name__}")


@dataclass
class Candidate:
    """One forced start token and its greedy continuation."""

    rank: int
    start_id: int
    ids: list[int]  # start token followed by the greedy continuation (cut after eos)
    text: str
    mean_prob: float
    min_prob: float
    z_score: float
    repeats_start: bool


@dataclass
class TokenForcingReport:
    """The ranked fingerprint candidates of one forcing run, plus statistics over every forced token."""

    model: str
    config: dict[str, Any]
    forced: int
    ranked: int
    screened_out: int
    seconds: float
    tokens_per_second: float
    mean_prob_stats: dict[str, float]
    candidates: list[Candidate]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenForcingReport:
        return cls(**{**data, "candidates": [Candidate(**c) for c in data["candidates"]]})

    def rank_of(self, hidden_ids: Sequence[int], min_overlap: int = 4) -> int | None:
        """Best rank of a candidate that shares ``min_overlap`` consecutive tokens with ``hidden_ids`` (a planted
        fingerprint's tokens), or None when no reported candidate does."""
        target = [int(i) for i in hidden_ids]
        need = min(min_overlap, len(target))
        windows = {tuple(target[i : i + need]) for i in range(len(target) - need + 1)}
        for c in self.candidates:
            if any(tuple(c.ids[i : i + need]) in windows for i in range(len(c.ids) - need + 1)):
                return c.rank
        return None


def _start_tokens(cfg: TokenForcingConfig, vocab: int, tokenizer: Any) -> list[int]:
    ids = list(range(vocab)) if cfg.token_ids is None else cfg.token_ids
    for name, seq in (("token_ids", ids), ("prefix_ids", cfg.prefix_ids)):
        bad = [i for i in seq if not 0 <= i < vocab]
        if bad:
            raise ValueError(f"{name} must lie in [0, {vocab}) (the model's vocabulary), got {bad[:5]}")
    if cfg.skip_special and tokenizer is not None:
        special = set(getattr(tokenizer, "all_special_ids", []) or [])
        ids = [i for i in ids if i not in special]
    if not ids:
        raise ValueError("no start token left to force (token_ids are all special tokens?)")
    return ids


@torch.no_grad()
def _decode_batch(
    model: Any, head: LMHead, rows: torch.Tensor, cfg: TokenForcingConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Greedy decoding of ``rows [B, P]`` with a KV cache: ``(ids [B, n], logp [B, n], decoded steps [B])``.

    With screening, rows whose mean token probability over the first ``screen_steps`` tokens is below
    ``screen_min_prob`` leave the batch (and the cache) there; their later entries stay 0 / -inf.
    """
    from transformers import DynamicCache

    from hf_tokens.ops.linear_cross_entropy.summary import linear_softmax_summary

    device, n, rows_n = head.weight.device, cfg.max_new_tokens, rows.shape[0]
    cache = DynamicCache(config=model.config)
    feed, position = rows.to(device), torch.arange(rows.shape[1], device=device)
    ids = torch.zeros(rows_n, n, dtype=torch.long)
    logp = torch.full((rows_n, n), -math.inf)
    steps = torch.zeros(rows_n, dtype=torch.long)
    live = torch.arange(rows_n)
    for t in range(n):
        inputs = {"input_ids": feed, cache_kwarg(model): cache, "use_cache": True, "position_ids": position[None]}
        hidden = forward_hidden(model, head, **inputs)[:, -1]
        h, b = head.inputs(hidden)
        s = linear_softmax_summary(h, head.weight, None, bias=b, softcap=head.softcap, entropy=False, topk=1)
        assert s.topk_ids is not None and s.topk_logp is not None  # asked for topk=1
        nxt = s.topk_ids[:, 0]
        ids[live, t], logp[live, t] = nxt.cpu(), s.topk_logp[:, 0].float().cpu()
        steps[live] = t + 1
        feed, position = nxt[:, None], position[-1:] + 1
        if cfg.screen_min_prob > 0 and t + 1 == cfg.screen_steps and t + 1 < n:
            passed = logp[live, : t + 1].exp().mean(1) >= cfg.screen_min_prob
            if not bool(passed.any()):
                break
            if not bool(passed.all()):
                keep = torch.nonzero(passed).flatten()
                cache.batch_select_indices(keep.to(device))
                live, feed = live[keep], feed[keep.to(device)]
    return ids, logp, steps


def _model_name(model: Any) -> str:
    return str(
        getattr(model, "name_or_path", "") or getattr(model.config, "_name_or_path", "") or type(model).__name__
    )


def token_forcing(
    model: Any, tokenizer: Any = None, config: TokenForcingConfig | None = None, **kwargs: Any
) -> TokenForcingReport:
    """Force every start token into ``model``, decode greedily and rank the continuations (module docstring).

    Args:
        model: a transformers causal LM (or a PEFT model around one).
        tokenizer: its tokenizer, for the candidates' text, eos and the special tokens to skip (optional).
        config: a :class:`TokenForcingConfig`; or pass its fields as keyword arguments.

    Returns:
        a :class:`TokenForcingReport` (JSON-serialisable through ``to_dict``).
    """
    if config is not None and kwargs:
        raise ValueError("pass either config=TokenForcingConfig(...) or its fields as keyword arguments, not both")
    if config is not None and not isinstance(config, TokenForcingConfig):
        raise TypeError(f"config must be a TokenForcingConfig, got {type(config).__name__}")
    cfg = config or TokenForcingConfig(**kwargs)
    head = LMHead.of(model)
    if tokenizer is not None and len(tokenizer) > head.vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's head only {head.vocab_size}: a tokenizer that "
            "does not match the model"
        )
    starts = _start_tokens(cfg, head.vocab_size, tokenizer)
    eos = getattr(tokenizer, "eos_token_id", None) if tokenizer is not None else None
    if eos is None:
        eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos_ids = set(eos if isinstance(eos, list) else [] if eos is None else [eos])

    was_training = model.training
    model.eval()
    begin = time.perf_counter()
    all_ids, all_logp, all_steps = [], [], []
    batches = range(0, len(starts), cfg.batch_size)
    if cfg.progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="token forcing", unit="batch")  # type: ignore[assignment]
    try:
        for b0 in batches:
            chunk = torch.tensor(starts[b0 : b0 + cfg.batch_size])
            rows = torch.cat(
                [torch.tensor(cfg.prefix_ids, dtype=torch.long).expand(len(chunk), -1), chunk[:, None]], 1
            )
            ids, logp, steps = _decode_batch(model, head, rows, cfg)
            all_ids.append(ids)
            all_logp.append(logp)
            all_steps.append(steps)
    finally:
        model.train(was_training)
    seconds = time.perf_counter() - begin
    gen_ids, gen_logp, length = torch.cat(all_ids), torch.cat(all_logp), torch.cat(all_steps)
    screened_out = length < cfg.max_new_tokens  # before the eos cut: rows dropped by the screen

    # cut each continuation after its first eos
    if eos_ids:
        decoded = torch.arange(cfg.max_new_tokens)[None] < length[:, None]
        is_eos = torch.isin(gen_ids, torch.tensor(sorted(eos_ids))) & decoded
        first = torch.where(is_eos.any(1), is_eos.float().argmax(1) + 1, length)
        screened_out &= ~is_eos.any(1)
        length = torch.minimum(length, first)
    keep = torch.arange(cfg.max_new_tokens)[None] < length[:, None]
    probs = gen_logp.exp() * keep
    mean_prob = probs.sum(1) / length
    min_prob = torch.where(keep, gen_logp.exp(), torch.ones_like(gen_logp)).amin(1)
    distinct = torch.tensor([len(set(r[:n].tolist())) for r, n in zip(gen_ids, length.tolist())])
    rankable = (distinct >= cfg.min_distinct) & ~screened_out

    values = mean_prob.tolist()
    mu = statistics.fmean(values)
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    order = sorted(torch.nonzero(rankable).flatten().tolist(), key=lambda i: (-values[i], starts[i]))
    candidates = []
    for rank, i in enumerate(order[: cfg.top_k], start=1):
        seq = [starts[i], *gen_ids[i, : int(length[i])].tolist()]
        text = tokenizer.decode(seq) if tokenizer is not None else " ".join(map(str, seq))
        candidates.append(
            Candidate(
                rank=rank,
                start_id=starts[i],
                ids=seq,
                text=text,
                mean_prob=round(values[i], 6),
                min_prob=round(float(min_prob[i]), 6),
                z_score=round((values[i] - mu) / sd, 4) if sd > 0 else 0.0,
                repeats_start=starts[i] in seq[1:],
            )
        )
    quantiles = statistics.quantiles(values, n=100) if len(values) > 1 else values * 99
    stats = {"mean": mu, "std": sd, "median": statistics.median(values), "p99": quantiles[98], "max": max(values)}
    return TokenForcingReport(
        model=_model_name(model),
        config=dataclasses.asdict(cfg),
        forced=len(starts),
        ranked=int(rankable.sum()),
        screened_out=int(screened_out.sum()),
        seconds=round(seconds, 3),
        tokens_per_second=round(len(starts) * cfg.max_new_tokens / seconds, 2) if seconds > 0 else 0.0,
        mean_prob_stats={k: round(float(v), 6) for k, v in stats.items()},
        candidates=candidates,
    )


def contract() -> dict[str, Any]:
    """Analysis contract: a forcing report over the whole vocabulary of a seeded tiny model."""

    def make_report(seed: int) -> dict[str, Any]:
        from hf_tokens.testing import tiny_model, tiny_tokenizer

        model, tok = tiny_model("llama", seed=seed), tiny_tokenizer()
        report = token_forcing(model, tok, max_new_tokens=3, batch_size=128, top_k=5).to_dict()
        report["seconds"] = report["tokens_per_second"] = 0.0  # timings differ between runs; the rest must not
        return report

    return {"make_report": make_report}


__all__ = ["Candidate", "TokenForcingConfig", "TokenForcingReport", "contract", "token_forcing"]
