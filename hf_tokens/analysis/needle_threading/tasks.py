"""The Needle Threading tasks (arXiv 2411.05000) as seeded prompt builders and scorers.

A haystack is a JSON object of random key -> value pairs (the paper uses UUIDs; ``id_chars`` sets how many hex
characters each identifier has, 32 = UUID-length, in the UUID's 8-4-4-4-12 grouping when 32; a negative
``id_chars = -n`` makes identifiers of ``n`` random English words, ``"maple-otter-violet"``). The tasks:

* ``single``: the value of one key.
* ``multiple``: the values of ``k`` keys at once.
* ``conditional``: the values of every key that contains a marker character (``*``); the marked keys are the
  needles, they are the only keys holding it.
* ``threading``: the value of a key is the key of another pair, ``hops`` times; starting from a key, follow the
  thread to its end and give the last value.
* ``multi_threading``: ``k`` independent threads followed at once; the final value of each.

The needles (the first of a thread) sit at ``depth`` (0 = start of the haystack, 1 = end); the other pairs of a
thread are placed at random positions. The haystack grows pair by pair until it reaches ``context_tokens`` tokens
of the given tokenizer (the paper's point: the same number of tokens is a different number of characters for another
tokenizer, so every example records both). Answers are written as a JSON object laid out like the haystack;
the prompt ends with the opening of that object (and of its first line, ``"<first asked key>": "``) so that any
causal LM, base or instruction-tuned, can answer by continuing it. Scoring is exact match per asked value; an
example's score is the fraction of its values that are right.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

TASKS = ("single", "multiple", "conditional", "threading", "multi_threading")
MARK = "*"

_QUESTION = {
    "single": "What is the value of the key {keys}?",
    "multiple": "What are the values of the keys {keys}?",
    "conditional": f"What are the values of all keys that contain the character {MARK!r}?",
    "threading": (
        "The value of a key may be another key of the object. Start at the key {keys}, look up its value, use that "
        "value as the next key, and keep following the thread until a value is not a key. What is that last value?"
    ),
    "multi_threading": (
        "The value of a key may be another key of the object. For each of the keys {keys}, follow its thread (use "
        "each value as the next key) until a value is not a key. What is the last value of each thread?"
    ),
}


@dataclass(frozen=True)
class NeedleExample:
    """One prompt and the answers it is scored against (``answers``: asked key -> expected value)."""

    task: str
    prompt: str
    answer_prefix: str
    answers: dict[str, str]
    depth: float
    context_chars: int
    context_tokens: int
    pairs: int


# for ``id_chars < 0``: identifiers of ``-id_chars`` English words (small models follow these more easily than hex)
_WORD_TEXT = (
    "amber apple arrow autumn badge basket beacon birch bottle bramble breeze bridge cabin candle canyon carpet "
    "castle cedar chalk cherry cliff cloud copper coral cotton crystal daisy desert dolphin dragon eagle ember "
    "falcon feather fern forest fossil garden glacier granite harbor hazel island ivory jasmine kettle lantern "
    "lemon lily maple marble meadow mirror monkey nectar ocean olive orchid otter panda pebble pepper pillow "
    "planet quartz rabbit raven ribbon river rocket saddle salmon shadow silver spider spruce summit sunset "
    "thistle thunder tiger timber tulip valley velvet violet walnut willow winter wizard yellow zebra"
)
WORDS = tuple(_WORD_TEXT.split())


def _identifier(rng: random.Random, chars: int) -> str:
    if chars < 0:
        return "-".join(rng.choice(WORDS) for _ in range(-chars))
    text = "".join(rng.choice("0123456789abcdef") for _ in range(chars))
    if chars == 32:
        text = "-".join(text[a:b] for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))
    return text


def _marked(rng: random.Random, key: str) -> str:
    i = rng.randrange(1, len(key))
    return key[:i] + MARK + key[i + 1 :]


def _line(key: str, value: str) -> str:
    return f'  "{key}": "{value}",\n'


def _needles(task: str, rng: random.Random, chars: int, k: int, hops: int) -> tuple[list[list[tuple[str, str]]], dict]:
    """Groups of pairs (a group = one needle or one thread, placed together) and the expected answers."""
    if task in ("single", "multiple"):
        groups = [[(_identifier(rng, chars), _identifier(rng, chars))] for _ in range(1 if task == "single" else k)]
        return groups, {g[0][0]: g[0][1] for g in groups}
    if task == "conditional":
        groups = [[(_marked(rng, _identifier(rng, chars)), _identifier(rng, chars))] for _ in range(k)]
        return groups, {g[0][0]: g[0][1] for g in groups}
    groups, answers = [], {}
    for _ in range(1 if task == "threading" else k):
        ids = [_identifier(rng, chars) for _ in range(hops + 1)]
        groups.append([(ids[i], ids[i + 1]) for i in range(hops)])
        answers[ids[0]] = ids[-1]
    return groups, answers


def build_example(
    task: str,
    tokenizer: object,
    *,
    context_tokens: int,
    depth: float,
    seed: int,
    id_chars: int = 32,
    needles: int = 3,
    hops: int = 3,
) -> NeedleExample:
    """One seeded example of ``task`` whose haystack has about ``context_tokens`` tokens (see the module docstring)."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    rng = random.Random(f"{task}:{context_tokens}:{depth}:{seed}:{id_chars}")
    groups, answers = _needles(task, rng, id_chars, needles, hops)
    needle_lines = [[_line(k, v) for k, v in g] for g in groups]
    count = lambda s: len(tokenizer(s, add_special_tokens=False)["input_ids"])  # type: ignore[operator]  # noqa: E731
    per_line = max(1, count(_line(_identifier(rng, id_chars), _identifier(rng, id_chars))))
    fixed = sum(count(line) for g in needle_lines for line in g)
    if fixed > context_tokens:
        raise ValueError(
            f"context_tokens={context_tokens} is smaller than the needles of {task!r} alone ({fixed} tokens): ask for "
            "a longer context, fewer needles/hops or shorter identifiers (id_chars)"
        )
    n_fill = (context_tokens - fixed) // per_line
    lines = [_line(_identifier(rng, id_chars), _identifier(rng, id_chars)) for _ in range(n_fill)]
    # the first pair of each group at `depth`; the rest of a thread at random places (never inside another thread)
    slots = len(lines) + 1
    first = min(slots - 1, round(depth * (slots - 1)))
    for g, group in enumerate(needle_lines):
        lines.insert(min(len(lines), first + g), group[0])
        for line in group[1:]:
            lines.insert(rng.randrange(len(lines) + 1), line)
    haystack = "{\n" + "".join(lines).rstrip(",\n") + "\n}"
    keys = ", ".join(json.dumps(k) for k in answers)
    question = _QUESTION[task].format(keys=keys)
    prefix = '{\n  "' + ("" if task == "conditional" else next(iter(answers)) + '": "')
    prompt = (
        f"Below is a JSON object of key-value pairs.\n\n{haystack}\n\n{question} Answer with a JSON object that maps "
        f"each asked key to its answer.\nAnswer:\n{prefix}"
    )
    return NeedleExample(task, prompt, prefix, answers, depth, len(haystack), count(haystack), len(lines))


def score(example: NeedleExample, completion: str) -> float:
    """Fraction of the asked values that the completion gives for their keys (exact match)."""
    text = example.answer_prefix + completion
    found = dict(re.findall(r'"([^"]+)"\s*:\s*"([^"]*)"', text))
    right = sum(found.get(k) == v for k, v in example.answers.items())
    return right / len(example.answers)


__all__ = ["MARK", "TASKS", "NeedleExample", "build_example", "score"]
