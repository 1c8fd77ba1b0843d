"""A fixed, offline prompt mix for speculative-decoding checks and benchmarks (used by tests and benchmarks).

Four kinds, as in the speculative-decoding literature's task mixes: ``chat`` (open questions), ``code`` (continue
CPython standard-library source), ``summarise`` (summarise a given passage) and ``extract`` (repeat or extract from
a given context). Everything comes from corpora bundled with the machine (:mod:`hf_tokens.assets.text`).
"""

from __future__ import annotations

from typing import Any

KINDS = ("chat", "code", "summarise", "extract")

_QUESTIONS = (
    "What is the capital of France, and what is it famous for?",
    "Explain in simple terms how a rainbow forms.",
    "Give me three tips for writing clean Python code.",
    "Why do cats purr?",
    "Describe the water cycle step by step.",
    "What are the benefits of regular exercise?",
    "How does a bicycle stay upright when it moves?",
    "Write a short poem about the sea.",
)


def _chat(tokenizer: Any, text: str) -> list[int]:
    ids = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True)
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def speculative_prompts(
    tokenizer: Any, per_kind: int = 5, *, context_chars: int = 900, seed: int = 0
) -> list[tuple[str, list[int]]]:
    """``per_kind`` prompts of each kind as ``(kind, token ids)``, interleaved by kind, deterministic per ``seed``
    (use another seed for held-out prompts, e.g. to calibrate a tree template)."""
    from hf_tokens.assets.text import text_chunks

    if per_kind < 1:
        raise ValueError(f"per_kind must be >= 1, got {per_kind}")
    code = text_chunks("python-stdlib", per_kind, context_chars, seed=1 + 10 * seed)
    prose = text_chunks("jargon", per_kind, context_chars, seed=2 + 10 * seed)
    legal = text_chunks("licenses", per_kind, context_chars, seed=3 + 10 * seed)
    out: dict[str, list[list[int]]] = {k: [] for k in KINDS}
    for i in range(per_kind):
        out["chat"].append(_chat(tokenizer, _QUESTIONS[(i + 3 * seed) % len(_QUESTIONS)]))
        out["code"].append([int(t) for t in tokenizer(code[i])["input_ids"]])
        out["summarise"].append(_chat(tokenizer, f"Summarise the following text in a few sentences.\n\n{prose[i]}"))
        task = "Repeat the following text word for word." if i % 2 == 0 else "List every name defined in this text."
        out["extract"].append(_chat(tokenizer, f"{task}\n\n{legal[i] if i % 2 == 0 else code[-1 - i]}"))
    return [(kind, out[kind][i]) for i in range(per_kind) for kind in KINDS]
