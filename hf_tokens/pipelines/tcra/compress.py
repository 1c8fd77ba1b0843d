"""The two compressors of TCRA-LLM (Liu et al., arXiv 2310.15556) as plain functions over any HF models.

* :func:`summarize_to_budget`: an instruction-tuned causal LM summarises the retrieved context; the budget (in the
  tokens of a counting tokenizer, by default the LM's) is enforced: generation stops at the budget and the decoded
  summary is cut back token by token until its re-tokenisation fits.
* :func:`semantic_compress`: drops the words whose removal moves the sentence embedding (mean-pooled MiniLM) of
  their passage least, in ``rounds`` batched rounds; the output keeps the surviving words with their original
  separators, so it is a character subsequence of the input.
* :func:`~hf_tokens.pipelines.tcra.pipeline.tcra_compress`: either, or both composed (summary first, then semantic
  compression to the final budget).

Deviations from the paper: the summariser is a prompted instruct LLM (SmolLM2-135M-Instruct in the benchmark), not
the paper's T5 fine-tuned on self-instruct summaries; semantic compression scores a word against the embedding of
its own window of ``window_words`` words (not of the whole context) so that each candidate costs one short encoder
forward, and removes words in ``rounds`` batched rounds (re-scoring the survivors between rounds) rather than one at
a time; budgets are counted in the reader's tokens rather than the paper's word/character counts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from hf_tokens.pipelines.xtr.index import encode_mean_pooled

SUMMARY_PROMPT = (
    "Summarize the following text in at most {words} words. Keep names, numbers and facts that answer questions."
    "{question}\n\nText:\n{context}"
)


def check_rate(rate: Any, name: str = "rate") -> float:
    """``rate`` (the kept fraction of tokens) as a float in (0, 1], else a clear error."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise TypeError(f"{name} must be a float in (0, 1] (the fraction of tokens kept), got {type(rate).__name__}")
    if not 0 < rate <= 1 or math.isnan(rate):
        raise ValueError(f"{name} must be in (0, 1] (the fraction of tokens kept; 0.5 is 2x), got {rate!r}")
    return float(rate)


def check_context(context: Any, name: str = "context") -> str:
    if not isinstance(context, str):
        raise TypeError(f"{name} must be a str, got {type(context).__name__}")
    if not context.strip():
        raise ValueError(f"{name} is empty; give the retrieved text to compress")
    return context


def count_tokens(tokenizer: Any, text: str) -> int:
    """Tokens of ``text`` without special tokens (the budget unit)."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def budget_of(tokenizer: Any, context: str, rate: float) -> int:
    """``ceil(rate * tokens(context))``, at least one token."""
    return max(1, math.ceil(check_rate(rate) * count_tokens(tokenizer, check_context(context))))


def fit_to_budget(tokenizer: Any, text: str, budget: int) -> str:
    """``text`` cut back to at most ``budget`` tokens of ``tokenizer`` (re-tokenisation checked, so always met)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    keep = min(len(ids), budget)
    while keep > 0:
        cut = tokenizer.decode(ids[:keep], skip_special_tokens=True).strip()
        if count_tokens(tokenizer, cut) <= budget:
            return cut
        keep -= 1
    return ""


@torch.no_grad()
def summarize_to_budget(
    model: Any,
    tokenizer: Any,
    context: str,
    budget: int,
    *,
    question: str | None = None,
    count_tokenizer: Any = None,
) -> str:
    """Greedy summary of ``context`` by the causal LM ``model`` in at most ``budget`` tokens of ``count_tokenizer``
    (default: ``tokenizer``). With ``question`` the prompt asks to keep what answers it (query-aware summary)."""
    check_context(context)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be an int >= 1 (tokens), got {budget!r}")
    counter = count_tokenizer or tokenizer
    words = max(1, int(budget * 0.7))
    hint = f" Focus on what answers: {question}" if question else ""
    prompt = SUMMARY_PROMPT.format(words=words, question=hint, context=context)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
    else:
        text = prompt + "\n\nSummary:"
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    enc = {k: v.to(model.device) for k, v in enc.items()}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = model.generate(**enc, max_new_tokens=budget, do_sample=False, pad_token_id=pad)
    summary = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True).strip()
    return fit_to_budget(counter, summary, budget)


@dataclass
class _Word:
    start: int  # offset of the word's leading separator in the input
    end: int
    window: int


def _words(text: str, window_words: int) -> list[_Word]:
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    out, prev = [], 0
    for i, (s, e) in enumerate(spans):
        out.append(_Word(prev if i else s, e, i // window_words))
        prev = e
    return out


def _join(text: str, words: Sequence[_Word]) -> str:
    return "".join(text[w.start : w.end] for w in words).strip()


@torch.no_grad()
def _deletion_scores(
    encoder: Any, encoder_tokenizer: Any, text: str, alive: list[_Word], window_words: int, batch_size: int
) -> list[float]:
    """Cosine similarity between each window's current embedding and the window without word ``i`` (higher = the
    word matters less)."""
    windows: dict[int, list[int]] = {}
    for i, w in enumerate(alive):
        windows.setdefault(w.window, []).append(i)
    texts, owners = [], []
    for members in windows.values():
        texts.append(_join(text, [alive[i] for i in members]))
        owners.append(-1)
        for i in members:
            texts.append(_join(text, [alive[j] for j in members if j != i]) or ".")
            owners.append(i)
    emb = encode_mean_pooled(encoder, encoder_tokenizer, texts, max_length=512, batch_size=batch_size)
    scores = [0.0] * len(alive)
    ref = emb[0]
    for row, owner in enumerate(owners):
        if owner < 0:
            ref = emb[row]
        else:
            scores[owner] = float(emb[row] @ ref)
    return scores


def semantic_compress(
    encoder: Any,
    encoder_tokenizer: Any,
    context: str,
    budget: int,
    *,
    count_tokenizer: Any,
    rounds: int = 2,
    window_words: int = 48,
    batch_size: int = 32,
) -> str:
    """Drop the least-impact words of ``context`` until it fits ``budget`` tokens of ``count_tokenizer``; the result
    is a subsequence of the input (surviving words keep their original separators)."""
    check_context(context)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise ValueError(f"budget must be an int >= 1 (tokens), got {budget!r}")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
    if not isinstance(window_words, int) or window_words < 2:
        raise ValueError(f"window_words must be an int >= 2, got {window_words!r}")
    alive = _words(context, window_words)
    cost = [count_tokens(count_tokenizer, context[w.start : w.end]) for w in alive]
    for r in range(rounds):
        total = sum(cost)
        if total <= budget or len(alive) <= 1:
            break
        excess = total - budget
        # this round removes an equal share of what is still over budget; the last round removes all of it
        target = excess if r == rounds - 1 else math.ceil(excess / (rounds - r))
        scores = _deletion_scores(encoder, encoder_tokenizer, context, alive, window_words, batch_size)
        order = sorted(range(len(alive)), key=lambda i: (-scores[i], i))
        drop: set[int] = set()
        removed = 0
        for i in order:
            if removed >= target or len(drop) == len(alive) - 1:
                break
            drop.add(i)
            removed += cost[i]
        alive = [w for i, w in enumerate(alive) if i not in drop]
        cost = [c for i, c in enumerate(cost) if i not in drop]
    # word costs are counted alone; the joined text is re-counted and trimmed at the word level until it fits
    while len(alive) > 1 and count_tokens(count_tokenizer, _join(context, alive)) > budget:
        alive = alive[:-1]
    out = _join(context, alive)
    return out if count_tokens(count_tokenizer, out) <= budget else fit_to_budget(count_tokenizer, out, budget)
