"""A fixed, offline prompt mix for speculative-decoding checks and benchmarks (used by tests and benchmarks).

Five kinds, as in the speculative-decoding literature's task mixes: ``chat`` (open questions from a pool of 40),
``code`` (continue CPython standard-library source), ``summarise`` (summarise a passage), ``extract`` (list or quote
parts of a passage) and ``repetition`` (reproduce a passage, verbatim or lightly reformatted). Passages come from
corpora bundled with the machine (:mod:`hf_tokens.assets.text`: Python source, the Jargon File, licence texts) and
each kind rotates through several instructions and sources, so a kind is not one prompt repeated. Different seeds
draw disjoint questions and passages (held-out prompts for calibration use ``seed=1``).
"""

from __future__ import annotations

import random
from typing import Any

KINDS = ("chat", "code", "summarise", "extract", "repetition")
SEEDS = 4  # seeds 0..3 draw disjoint prompts

_QUESTIONS = (
    "What is the capital of France, and what is it famous for?",
    "Explain in simple terms how a rainbow forms.",
    "Give me three tips for writing clean Python code.",
    "Why do cats purr?",
    "Describe the water cycle step by step.",
    "What are the benefits of regular exercise?",
    "How does a bicycle stay upright when it moves?",
    "Write a short poem about the sea.",
    "What is the difference between weather and climate?",
    "How do vaccines train the immune system?",
    "Suggest a simple weekly plan for learning to cook.",
    "Why is the sky blue during the day and red at sunset?",
    "Explain what a binary search does and when to use it.",
    "What should I pack for a three-day hiking trip?",
    "How do bees make honey?",
    "Write a short story about a robot who learns to paint.",
    "What are the main causes of inflation?",
    "How can I improve my sleep?",
    "Explain the difference between a list and a tuple in Python.",
    "What happened during the French Revolution, in brief?",
    "How does a refrigerator keep food cold?",
    "Give me a recipe for a quick vegetable soup.",
    "What is photosynthesis and why does it matter?",
    "How do I write a polite email asking for a deadline extension?",
    "Why do we have seasons on Earth?",
    "Compare trains and planes for a 500 km trip.",
    "What is machine learning, explained to a ten-year-old?",
    "Write a haiku about autumn leaves.",
    "How does the heart pump blood through the body?",
    "What are good habits for saving money?",
    "Explain how a compiler differs from an interpreter.",
    "Why do some metals rust and others do not?",
    "Describe a typical day in the life of a medieval farmer.",
    "How do airplanes generate lift?",
    "What are the rules of chess for the knight and the bishop?",
    "How can a small team run effective meetings?",
    "What causes earthquakes?",
    "Write a limerick about a forgetful cat.",
    "Explain recursion with a simple example.",
    "What are the pros and cons of working from home?",
)

# (instruction, corpus) per kind; prompt i of a kind uses entry i % len.
_SUMMARISE = (
    ("Summarise the following text in a few sentences.", "jargon"),
    ("Write a two-sentence summary of this licence text.", "licenses"),
    ("What is this text about? Answer briefly.", "jargon"),
    ("Summarise what this code does.", "python-stdlib"),
)
_EXTRACT = (
    ("List every function, class and variable name defined in this code, one per line.", "python-stdlib"),
    ("List every term this text defines, one per line, each with a few words of explanation.", "jargon"),
    ("Quote the sentences of this licence text that state a condition or an obligation.", "licenses"),
)
_REPETITION = (
    ("Repeat the following text word for word.", "licenses"),
    ("Copy the following code exactly as it is.", "python-stdlib"),
    ("Rewrite the following text with exactly the same words, one sentence per line.", "jargon"),
)


def _chat(tokenizer: Any, text: str) -> list[int]:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def _passages(per_kind: int, chars: int, seed: int) -> dict[str, list[str]]:
    """Enough passages of each corpus for one seed; the pools of different seeds do not overlap."""
    from hf_tokens.assets.text import text_chunks

    out = {}
    for offset, corpus in enumerate(("python-stdlib", "jargon", "licenses")):
        need = 3 * per_kind  # the most one corpus serves: code continuation + one instruction of each other kind
        pool = text_chunks(corpus, need * SEEDS, chars, seed=11 + offset)
        random.Random(offset).shuffle(pool)  # text_chunks returns slices in corpus order
        out[corpus] = pool[seed * need : (seed + 1) * need]
    return out


def speculative_prompts(
    tokenizer: Any, per_kind: int = 5, *, context_chars: int = 900, seed: int = 0
) -> list[tuple[str, list[int]]]:
    """``per_kind`` prompts of each kind as ``(kind, token ids)``, interleaved by kind, deterministic per
    ``(per_kind, context_chars, seed)``; seeds 0..3 give disjoint prompts (use ``seed=1`` for held-out prompts)."""
    if not isinstance(per_kind, int) or per_kind < 1:
        raise ValueError(f"per_kind must be an int >= 1, got {per_kind!r}")
    if not isinstance(seed, int) or not 0 <= seed < SEEDS:
        raise ValueError(f"seed must be an int in [0, {SEEDS - 1}], got {seed!r}")
    if per_kind * SEEDS > len(_QUESTIONS):
        raise ValueError(f"per_kind must be <= {len(_QUESTIONS) // SEEDS} (the chat pool has {len(_QUESTIONS)})")
    passages = _passages(per_kind, context_chars, seed)
    used = dict.fromkeys(passages, 0)

    def passage(corpus: str) -> str:
        used[corpus] += 1
        return passages[corpus][used[corpus] - 1]

    questions = list(_QUESTIONS)
    random.Random(0).shuffle(questions)
    out: dict[str, list[list[int]]] = {k: [] for k in KINDS}
    for i in range(per_kind):
        out["chat"].append(_chat(tokenizer, questions[seed * per_kind + i]))
        out["code"].append([int(t) for t in tokenizer(passage("python-stdlib"))["input_ids"]])
        for kind, table in (("summarise", _SUMMARISE), ("extract", _EXTRACT), ("repetition", _REPETITION)):
            instruction, corpus = table[i % len(table)]
            out[kind].append(_chat(tokenizer, f"{instruction}\n\n{passage(corpus)}"))
    return [(kind, out[kind][i]) for i in range(per_kind) for kind in KINDS]
