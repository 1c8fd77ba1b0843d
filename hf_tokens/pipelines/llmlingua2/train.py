"""LLMLingua-2's data distillation and classifier training (Pan et al., arXiv 2403.12968, sections 3.1-3.3).

1. An LLM compresses each document extractively under the paper's constraints (only remove words; no reordering,
   rewording, abbreviations or new words): :func:`distillation_prompt`.
2. The compressed text is aligned back to the original words: each compressed word is searched forward from the
   last match (lower-cased, punctuation-insensitive) within a window; matched original words are labelled keep (1),
   the rest drop (0): :func:`align_labels`. Replies whose words mostly fail to align are filtered out
   (:func:`variation_rate`, the paper's "variation rate" filter).
3. A token classifier learns the labels, one label per word on its first subword (other subwords ignored):
   :func:`train_classifier`.

Deviations: the LLM is a small local one (the paper uses GPT-4), so the prompt asks it to delete at least half of
the words (small teachers otherwise copy the text back); documents are compressed whole when they fit the
LLM's context rather than in 512-token slices; the paper's alignment also uses fuzzy matching, ours matches exact
normalised words only.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from hf_tokens.pipelines.llmlingua2.compress import split_words

_STRIP = re.compile(r"^\W+|\W+$")


def distillation_prompt(text: str) -> str:
    """The instruction asking an LLM for an extractive compression of ``text`` (our wording of the paper's rules,
    plus a floor on how much to delete: a small teacher asked only to compress "aggressively", as the paper asks
    GPT-4, mostly copies the text back whole; Qwen2.5-Coder-1.5B did on 3 of 4 documents)."""
    return (
        "Compress the text below by deleting words only, so that the original can still be reconstructed.\n"
        "Rules: 1. Only delete unimportant words. 2. Keep the order of the words. 3. Do not change any word. "
        "4. No abbreviations or emojis. 5. Do not add words or symbols.\n"
        "Compress it aggressively: delete at least half of the words, keeping as much information as possible.\n"
        "Reply with the compressed text only.\n\n"
        f"Text:\n{text}"
    )


def _norm(word: str) -> str:
    return _STRIP.sub("", word.lower()) or word.lower()


def align_labels(original: Sequence[str], compressed: str, window: int = 30) -> list[int]:
    """0/1 keep labels for the ``original`` words from an LLM's ``compressed`` text (greedy forward alignment)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    norm = [_norm(w) for w in original]
    labels = [0] * len(original)
    pos = 0
    for word in split_words(compressed):
        target = _norm(word)
        for j in range(pos, min(len(original), pos + window)):
            if norm[j] == target:
                labels[j] = 1
                pos = j + 1
                break
    return labels


def variation_rate(compressed: str, labels: Sequence[int]) -> float:
    """Fraction of the compressed words that did not align to an original word (the paper filters high values)."""
    n = len(split_words(compressed))
    return 0.0 if n == 0 else max(0.0, 1.0 - sum(labels) / n)


def _encode(tokenizer: Any, words: Sequence[str], labels: Sequence[int], max_length: int) -> dict[str, torch.Tensor]:
    enc = tokenizer(list(words), is_split_into_words=True, truncation=True, max_length=max_length, return_tensors="pt")
    target, seen = [], set()
    for w in enc.word_ids(0):
        if w is None or w in seen:
            target.append(-100)
        else:
            seen.add(w)
            target.append(int(labels[w]))
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": torch.tensor([target])}


def train_classifier(
    model: Any,
    tokenizer: Any,
    examples: Sequence[tuple[Sequence[str], Sequence[int]]],
    *,
    epochs: int = 3,
    lr: float = 5e-5,
    max_length: int = 256,
    seconds: float | None = None,
    seed: int = 0,
    log: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Fine-tune ``model`` (a 2-label token classifier) in place on ``(words, labels)`` examples, one example per
    step (long examples are cut into ``max_length``-token windows); stops early after ``seconds``."""
    if not examples:
        raise ValueError("examples is empty; give (words, labels) pairs")
    for words, labels in examples:
        if len(words) != len(labels) or not words:
            raise ValueError("each example needs as many labels as words, and at least one word")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    from hf_tokens.pipelines.llmlingua2.compress import word_chunks

    batches = []
    for words, labels in examples:
        for start, end in word_chunks(tokenizer, words, max_length):
            batches.append(_encode(tokenizer, words[start:end], labels[start:end], max_length))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    losses: list[float] = []
    t0 = time.perf_counter()
    try:
        for _ in range(epochs):
            rng.shuffle(batches)
            for batch in batches:
                loss = model(**batch).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                if log is not None:
                    log(len(losses), losses[-1])
                if seconds is not None and time.perf_counter() - t0 > seconds:
                    raise StopIteration
    except StopIteration:
        pass
    finally:
        model.eval()
    return {"losses": losses, "steps": len(losses), "seconds": time.perf_counter() - t0}
