"""``hf-tokens run --method dc-pdd``."""

from __future__ import annotations

from typing import Any

from hf_tokens.analysis.lm_head import LMHead
from hf_tokens.pipelines.dc_pdd.frequency import TokenFrequency
from hf_tokens.pipelines.dc_pdd.pipeline import DCPDDPipeline


def demo(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> dict[str, Any]:
    """``hf-tokens run --method dc-pdd``: the membership scores of the prompt itself (reference frequencies from
    the offline ``fortunes`` corpus, 300k characters); nothing is generated."""
    freq = TokenFrequency.from_corpora(
        tokenizer, vocab_size=LMHead.of(model).vocab_size, corpora=("fortunes",), max_chars=300_000
    )
    out = DCPDDPipeline(model=model, tokenizer=tokenizer, reference_frequency=freq)(prompt, baselines=True)
    return {"text": "", "new_tokens": 0, "dc_pdd_score": out.pop("score"), **out}
