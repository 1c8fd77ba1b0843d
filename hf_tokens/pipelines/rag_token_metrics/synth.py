"""Synthetic question/answer pairs anchored to reference spans (Jadon et al., arXiv 2502.15854, section 3).

An instruction-tuned LLM reads one passage of a document and writes the evidence first (one or more verbatim quotes
from the passage, separated by ``...``: discontinuous spans), then a question it answers and a short answer. A pair
survives only when every quote is found in the document by exact span matching, which gives its reference spans as
character ranges, and when it passes the filters of :func:`validate_pair` (no empty fields, quotes long enough to
carry an answer, the question does not copy its evidence).

Deviations from the paper: a small local instruct model (Qwen2.5-Coder or SmolLM2, see ASSETS.md) replaces
DeepSeek-R1/Phi-4 and greedy decoding replaces sampling; the evidence comes before the question (small models copy text
faithfully only when copying is the first thing they do; the answer is optional, a reply may end at the token
limit); exact matching compares text with runs of whitespace
collapsed (documentation is hard-wrapped; the model reflows lines), still requiring every other character to match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from hf_tokens.pipelines.rag_token_metrics.metrics import Span

PROMPT = (
    "Here is a passage of technical documentation.\n\n<passage>\n{passage}\n</passage>\n\n"
    "Copy, word for word, one sentence of the passage that states a specific fact (if the fact needs two separate "
    "sentences, copy both and put ' ... ' between them). Then write a question that this evidence answers, in your "
    "own words. Then give the short answer in a few words.\n"
    "Reply in exactly this format:\nEvidence: <exact copy from the passage>\nQuestion: <question>\n"
    "Answer: <short answer>"
)
_FIELD = re.compile(r"^\s*(Question|Evidence|Answer)\s*:\s*", re.M)
MIN_QUOTE_WORDS = 4


@dataclass
class QAPair:
    """A validated question with its reference spans (character ranges of ``doc_id``'s text)."""

    doc_id: str
    question: str
    answer: str
    spans: list[Span]
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "question": self.question,
            "answer": self.answer,
            "spans": [list(s) for s in self.spans],
            "evidence": list(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QAPair:
        spans = [(int(a), int(b)) for a, b in data["spans"]]
        if not spans:
            raise ValueError(f"question {data.get('question')!r} has no reference span")
        return cls(data["doc_id"], data["question"], data["answer"], spans, list(data.get("evidence", [])))


def _collapsed(text: str) -> tuple[str, list[int]]:
    """``text`` with whitespace runs collapsed to one space, and the original index of each kept character."""
    out, index, prev_space = [], [], False
    for i, ch in enumerate(text):
        if ch.isspace():
            if prev_space:
                continue
            out.append(" ")
            prev_space = True
        else:
            out.append(ch)
            prev_space = False
        index.append(i)
    return "".join(out), index


def find_span(document: str, quote: str) -> Span | None:
    """The character range of the first exact occurrence of ``quote`` in ``document`` (whitespace runs collapsed
    on both sides), or ``None``."""
    quote = " ".join(quote.split())
    if not quote:
        return None
    flat, index = _collapsed(document)
    at = flat.find(quote)
    if at < 0:
        return None
    return index[at], index[at + len(quote) - 1] + 1


def parse_reply(reply: str) -> tuple[str, list[str], str] | None:
    """``(question, quotes, answer)`` from a reply in the prompt's format (fields in any order, the answer may be
    missing: a reply cut by the token limit), or ``None`` without a question and evidence."""
    parts = _FIELD.split(reply)
    fields: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        fields.setdefault(parts[i], parts[i + 1].strip())  # the first of repeated fields
    if not fields.get("Question") or not fields.get("Evidence"):
        return None
    question = " ".join(fields["Question"].split())
    answer = " ".join(fields.get("Answer", "").splitlines()[0].split()) if fields.get("Answer") else ""
    quotes = [q.strip().strip("\"'“”<>").strip() for q in re.split(r"\s*(?:\.\.\.|…)\s*", fields["Evidence"])]
    return question, [q for q in quotes if q], answer


def validate_pair(doc_id: str, document: str, reply: str) -> QAPair | str:
    """A :class:`QAPair` if ``reply`` passes exact span matching and the filters, else the reason it fails."""
    parsed = parse_reply(reply)
    if parsed is None:
        return "format"
    question, quotes, answer = parsed
    if not question.endswith("?") or len(question.split()) < 4:
        return "question"
    if not quotes:
        return "empty"
    spans = []
    for quote in quotes:
        if len(quote.split()) < MIN_QUOTE_WORDS:
            return "short-quote"
        span = find_span(document, quote)
        if span is None:
            return "no-exact-match"
        spans.append(span)
    if any(" ".join(q.split()).lower() in question.lower() for q in quotes):
        return "question-copies-evidence"
    spans = sorted(set(spans))
    return QAPair(doc_id, question, answer, spans, quotes)


def generate_replies(
    model: Any, tokenizer: Any, passages: list[str], *, batch_size: int = 8, max_new_tokens: int = 80
) -> list[str]:
    """Greedy replies of ``model`` to :data:`PROMPT` for each passage (left-padded batches)."""
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    replies: list[str] = []
    for start in range(0, len(passages), batch_size):
        prompts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": PROMPT.format(passage=p)}], tokenize=False, add_generation_prompt=True
            )
            for p in passages[start : start + batch_size]
        ]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        replies += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return replies
