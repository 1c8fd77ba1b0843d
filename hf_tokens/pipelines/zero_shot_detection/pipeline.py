"""``pipeline("llm-text-detection")``: the zero-shot test of arXiv 2501.02406 per text, and its baselines.

Both of the paper's settings go through the same test with the scoring model ``A`` as the null hypothesis:

- LLM vs human: ``pipe(text)["reject"]`` is True when the text is unlikely to come from ``A`` (p <= alpha);
- LLM A vs LLM B (in-house vs external): :func:`attribute` runs the test under each candidate model and names the
  candidate with the largest p-value, or ``None`` when every candidate is rejected.

``score`` is ``-|S|`` (higher = more like the scoring model's own text, for ROC curves); with ``baselines=True`` the
output adds, from the same forward pass: ``log_likelihood``, ``log_rank``, ``fast_detectgpt`` (analytical, the
scoring model as sampler and scorer) and ``binoculars`` (observer = ``observer_model`` if given, else the scoring
model itself, which reduces Binoculars to log-PPL / entropy). All baselines: higher = machine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM
from transformers.pipelines import PIPELINE_REGISTRY

from hf_tokens.analysis import detection_scores as ds
from hf_tokens.analysis.lm_head import LMHead
from hf_tokens.analysis.token_stats import token_stats
from hf_tokens.analysis.token_stats_result import TokenStats
from hf_tokens.pipelines.detection_base import TokenStatsPipeline, detection_contract
from hf_tokens.pipelines.zero_shot_detection.statistic import ZeroShotDetectionConfig, zero_shot_test

TASK = "llm-text-detection"


class ZeroShotDetectionPipeline(TokenStatsPipeline):
    """Zero-shot LLM-text test per text: statistic, p-value, decision (see the module docstring)."""

    stats_options = {"entropy": True, "logp_std": True}
    min_scored_tokens = 2

    def __init__(
        self, *args: Any, config: ZeroShotDetectionConfig | None = None, observer_model: Any = None, **kwargs: Any
    ) -> None:
        self.config_ = ZeroShotDetectionConfig() if config is None else config
        if not isinstance(self.config_, ZeroShotDetectionConfig):
            raise TypeError(f"config must be a ZeroShotDetectionConfig, got {type(config).__name__}")
        super().__init__(*args, **kwargs)
        self.vocab_size = LMHead.of(self.model).vocab_size
        if observer_model is not None and LMHead.of(observer_model).vocab_size != self.vocab_size:
            raise ValueError("observer_model must share the scoring model's vocabulary (Binoculars compares them)")
        self.observer_model = observer_model

    def _forward(self, inputs: dict[str, Any], **params: Any) -> dict[str, Any]:  # type: ignore[override]
        extra = {}
        if params.get("baselines", False):
            extra = {"rank": True, "reference_model": self.observer_model}  # None: the model observes itself
        stats = self.stats_of(inputs["input_ids"], inputs["attention_mask"], **extra)
        out = self.score(stats, inputs, **params)
        out["num_tokens"] = stats.num_scored
        return {k: v.detach().cpu() for k, v in out.items()}

    def score(self, stats: TokenStats, inputs: dict[str, Any], **params: Any) -> dict[str, torch.Tensor]:
        test = zero_shot_test(stats, self.config_, self.vocab_size)
        out = {**test, "score": -test["statistic"].abs()}
        if params.get("baselines", False):
            out.update(
                log_likelihood=ds.log_likelihood(stats),
                log_rank=ds.log_rank(stats),
                fast_detectgpt=ds.fast_detectgpt(stats),
                binoculars=ds.binoculars(stats),
            )
        return out

    def postprocess(self, model_outputs: dict[str, torch.Tensor], **postprocess_parameters: Any) -> dict[str, Any]:
        reject = bool(model_outputs.pop("reject").reshape(-1)[0])
        return {**self.row_values({k: v.double() if k != "num_tokens" else v for k, v in model_outputs.items()}),
                "reject": reject}  # fmt: skip


PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=ZeroShotDetectionPipeline, pt_model=AutoModelForCausalLM)


def decide(
    p_values: Mapping[str, Sequence[float]], alpha: float, statistics: Mapping[str, Sequence[float]] | None = None
) -> list[str | None]:
    """Per text: the candidate with the largest p-value (ties, e.g. several p-values of 1 from a conservative bound,
    go to the smallest ``|statistic|`` when given), or ``None`` when every candidate rejects at ``alpha``."""
    names = list(p_values)
    out: list[str | None] = []
    for i in range(len(p_values[names[0]])):
        best = max(names, key=lambda k: (p_values[k][i], -abs(statistics[k][i]) if statistics else 0.0))
        out.append(best if p_values[best][i] > alpha else None)
    return out


def attribute(
    texts: Sequence[str] | torch.Tensor,
    candidates: Mapping[str, tuple[Any, Any]],
    config: ZeroShotDetectionConfig | None = None,
    *,
    attention_mask: torch.Tensor | None = None,
    continuation_start: int | Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """The paper's first setting: which of several LLMs (name -> (model, tokenizer)) wrote each text.

    Runs the test under every candidate; per text returns ``{"p_values": {name: p}, "source": name or None}``:
    the candidate with the largest p-value (ties: the smallest ``|S|``), ``None`` when all are rejected at ``alpha``
    (an external model or a human). ``texts`` may also be a ``[B, T]`` tensor of token ids (with
    ``attention_mask``) when all candidates share one tokenizer (the exact sampled tokens, which decoding and
    re-encoding need not reproduce); ``continuation_start`` then leaves a prompt unscored."""
    if not candidates:
        raise ValueError("candidates must name at least one (model, tokenizer) pair")
    cfg = config or ZeroShotDetectionConfig()
    per: dict[str, list[float]] = {}
    stat: dict[str, list[float]] = {}
    for name, (model, tok) in candidates.items():
        if isinstance(texts, torch.Tensor):
            stats = token_stats(
                model, input_ids=texts, attention_mask=attention_mask, continuation_start=continuation_start,
                logp_std=True,
            )  # fmt: skip
        else:
            stats = token_stats(model, tok, list(texts), logp_std=True)
        test = zero_shot_test(stats, cfg, LMHead.of(model).vocab_size)
        per[name], stat[name] = test["p_value"].tolist(), test["statistic"].tolist()
    sources = decide(per, cfg.alpha, stat)
    return [{"p_values": {k: per[k][i] for k in per}, "source": src} for i, src in enumerate(sources)]


def contract() -> dict[str, Any]:
    def make_pipeline_kwargs() -> dict[str, Any]:
        from hf_tokens.testing import tiny_model, tiny_tokenizer

        tok = tiny_tokenizer()
        return {"model": tiny_model("llama", vocab_size=len(tok)), "tokenizer": tok}

    return detection_contract(TASK, ZeroShotDetectionPipeline, make_pipeline_kwargs)
