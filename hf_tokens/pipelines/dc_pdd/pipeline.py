"""DC-PDD (Zhang et al., EMNLP 2024, arXiv 2409.14781): pretraining-data detection by divergence-based calibration.

For a text ``x_1..x_n``, the target model gives each token a probability ``p(x_i | x_<i)``; a reference corpus gives
each vocabulary entry a frequency ``f(x)`` (:class:`~hf_tokens.pipelines.dc_pdd.frequency.TokenFrequency`,
Laplace-smoothed). Over the *first occurrence* of every distinct token in the text, DC-PDD takes the cross-entropy term

    alpha_i = -p(x_i | x_<i) * log f(x_i),   clipped: alpha_i = min(alpha_i, a)   (a = 0.01 in the paper)

and scores the text by their mean: ``beta = mean_i alpha_i``. Higher = more likely seen in training (a member): a
member's tokens get a high model probability even where they are rare in general text. The clip ``a`` stops a few
tokens from dominating the score.

Deviations from the paper, named: (1) the first token of a text has no prediction (no BOS here), so it is neither
scored nor counted among the first occurrences; (2) the reference corpus is the offline text of
:mod:`hf_tokens.assets.text` (the paper uses C4), so frequencies are estimated from far fewer tokens; (3) the
baselines (perplexity, zlib, lowercase, Min-K% Prob, Min-K%++) come from the same single pass of
:func:`hf_tokens.analysis.token_stats` (the lowercase baseline needs a second pass over the lower-cased text).

    from transformers import pipeline
    pipe = pipeline("membership-inference", model=model, tokenizer=tok, reference_frequency=freq)
    pipe("some text")  # {"score": ..., "num_tokens": ...}; baselines=True adds the five baselines
"""

from __future__ import annotations

import os
import zlib
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from transformers import AutoModelForCausalLM
from transformers.pipelines import PIPELINE_REGISTRY

from hf_tokens.analysis import detection_scores as ds
from hf_tokens.analysis.lm_head import LMHead
from hf_tokens.analysis.token_stats_result import TokenStats
from hf_tokens.pipelines.dc_pdd.frequency import TokenFrequency
from hf_tokens.pipelines.detection_base import TokenStatsPipeline, detection_contract

TASK = "membership-inference"
BASELINES = ("neg_log_ppl", "zlib", "lowercase", "min_k", "min_k_plus_plus")


@dataclass
class DCPDDConfig:
    """Settings of DC-PDD (arXiv 2409.14781) and of its baselines."""

    clip: float = field(default=0.01, metadata={"help": "upper bound a on each token's -p*log f term (paper: 0.01)"})
    k: float = field(default=0.2, metadata={"help": "fraction of lowest-scoring tokens for Min-K% / Min-K%++"})
    max_tokens: int = field(default=1024, metadata={"help": "tokens counted per reference document (paper: 1024)"})

    def __post_init__(self) -> None:
        if isinstance(self.clip, bool) or not isinstance(self.clip, (int, float)) or not self.clip > 0:
            raise ValueError(f"clip must be a number > 0, got {self.clip!r}")
        ds.check_fraction("k", self.k)
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be an int >= 1, got {self.max_tokens!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dc_pdd_score(stats: TokenStats, log_freq: torch.Tensor, clip: float) -> torch.Tensor:
    """``[B]`` DC-PDD scores of the rows of ``stats`` given ``log f`` (``[V]``, natural log) and the clip ``a``."""
    out = []
    for logp, targets, keep in zip(stats.logp, stats.target_ids, stats.mask):
        ids, probs = targets[keep], logp[keep].double().exp()
        first = torch.ones_like(ids, dtype=torch.bool)
        seen: set[int] = set()
        for j, t in enumerate(ids.tolist()):  # first occurrence of each distinct token, in text order
            first[j] = t not in seen
            seen.add(t)
        alpha = (probs[first] * -log_freq.to(probs.device)[ids[first]]).clamp(max=clip)
        out.append(alpha.mean())
    return torch.stack(out).float()


_DEFAULT_FREQ: dict[tuple[str, int], TokenFrequency] = {}


def default_frequency(tokenizer: Any, vocab_size: int) -> TokenFrequency:
    """The reference frequencies over :data:`~hf_tokens.pipelines.dc_pdd.frequency.DEFAULT_CORPORA` (built once
    per tokenizer in this process)."""
    key = (str(getattr(tokenizer, "name_or_path", id(tokenizer))), vocab_size)
    if key not in _DEFAULT_FREQ:
        _DEFAULT_FREQ[key] = TokenFrequency.from_corpora(tokenizer, vocab_size=vocab_size)
    return _DEFAULT_FREQ[key]


class DCPDDPipeline(TokenStatsPipeline):
    """``pipeline("membership-inference")``: DC-PDD score per text (higher = more likely a training member)."""

    stats_options = {"entropy": True, "logp_std": True}

    def __init__(
        self,
        *args: Any,
        reference_frequency: TokenFrequency | str | os.PathLike[str] | None = None,
        config: DCPDDConfig | None = None,
        **kwargs: Any,
    ) -> None:
        self.config_ = DCPDDConfig() if config is None else config
        if not isinstance(self.config_, DCPDDConfig):
            raise TypeError(f"config must be a DCPDDConfig, got {type(config).__name__}")
        super().__init__(*args, **kwargs)
        vocab = LMHead.of(self.model).vocab_size
        if reference_frequency is None:
            reference_frequency = default_frequency(self.tokenizer, vocab)
        elif isinstance(reference_frequency, (str, os.PathLike)):
            reference_frequency = TokenFrequency.load(reference_frequency)
        if not isinstance(reference_frequency, TokenFrequency):
            raise TypeError(
                f"reference_frequency must be a TokenFrequency or a path, got {type(reference_frequency).__name__}"
            )
        if reference_frequency.vocab_size != vocab:
            raise ValueError(
                f"reference_frequency covers {reference_frequency.vocab_size} tokens, the model's head {vocab}: "
                "count it with the model's tokenizer and vocab_size"
            )
        self.reference_frequency = reference_frequency
        self.log_freq = reference_frequency.probabilities().log()

    def preprocess(self, input_: Any, **preprocess_parameters: Any) -> dict[str, Any]:
        enc = self.encode(text := input_)
        if preprocess_parameters.get("baselines", False):
            lower = self.encode(text.lower(), name="inputs (lower-cased)")
            enc.update(lower_input_ids=lower["input_ids"], lower_attention_mask=lower["attention_mask"])
            enc["zlib_bytes"] = torch.tensor([len(zlib.compress(text.encode("utf-8")))], dtype=torch.float32)
        return enc

    def score(self, stats: TokenStats, inputs: dict[str, Any], **params: Any) -> dict[str, torch.Tensor]:
        out = {"score": dc_pdd_score(stats, self.log_freq, self.config_.clip)}
        if params.get("baselines", False):
            lower = self.stats_of(inputs["lower_input_ids"], inputs["lower_attention_mask"])
            nlp = ds.neg_log_perplexity(stats)
            out.update(
                neg_log_ppl=nlp,
                zlib=nlp.cpu() / inputs["zlib_bytes"],
                lowercase=ds.lowercase_ratio(stats, lower),
                min_k=ds.min_k_prob(stats, self.config_.k),
                min_k_plus_plus=ds.min_k_plus_plus(stats, self.config_.k),
            )
        return out


PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=DCPDDPipeline, pt_model=AutoModelForCausalLM)


def contract() -> dict[str, Any]:
    def make_pipeline_kwargs() -> dict[str, Any]:
        from hf_tokens.testing import tiny_model, tiny_tokenizer

        tok = tiny_tokenizer()
        texts = ["The quick brown fox jumps over the lazy dog.", "def main():\n    return 0\n", "Hello world! " * 3]
        freq = TokenFrequency.from_texts(tok, texts, vocab_size=len(tok))
        return {"model": tiny_model("llama", vocab_size=len(tok)), "tokenizer": tok, "reference_frequency": freq}

    return detection_contract(TASK, DCPDDPipeline, make_pipeline_kwargs)
