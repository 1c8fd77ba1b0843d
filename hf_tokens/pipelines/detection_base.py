"""A thin ``transformers.Pipeline`` base for detectors that score a text from a causal LM's per-token statistics.

A detector subclass writes only its statistic: :meth:`TokenStatsPipeline.score` maps the
:class:`~hf_tokens.analysis.TokenStats` of a padded batch (and the batch's extra inputs) to a dict of ``[B]`` tensors;
``postprocess`` turns one row into floats. This base does the rest the same way for every detector:

- ``preprocess`` refuses what is not text (``TypeError``), empty text, and text that encodes to fewer tokens than the
  statistic needs (``ValueError`` naming the count); the pipeline refuses a tokenizer that cannot be the model's
  (vocabulary sizes) when it is built;
- ``_forward`` runs :func:`hf_tokens.analysis.token_stats` once on the padded batch (left or right padding, as the
  tokenizer pads; rows of a batch score as they do alone), so ``pipe(texts, batch_size=8)`` equals one text at a time.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from transformers import Pipeline

from hf_tokens.analysis import token_batch
from hf_tokens.analysis.lm_head import LMHead
from hf_tokens.analysis.token_stats import token_stats
from hf_tokens.analysis.token_stats_result import TokenStats


class TokenStatsPipeline(Pipeline):
    """Base of the per-token-statistics detectors (see the module docstring)."""

    _load_tokenizer = True  # type: ignore[assignment]
    # what token_stats computes for this detector (logp always)
    stats_options: dict[str, Any] = {"entropy": True}
    # scored positions (tokens after the first) a text needs at least
    min_scored_tokens = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.tokenizer is None:
            raise ValueError(f"{type(self).__name__} needs the model's tokenizer (tokenizer=...)")
        token_batch.check_tokenizer(self.tokenizer, LMHead.of(self.model).vocab_size)
        if self.tokenizer.pad_token_id is None:  # batching pads (padded positions are masked out): on a copy, so
            self.tokenizer = copy.deepcopy(self.tokenizer)  # the caller's tokenizer is left as it was
            self.tokenizer.pad_token = self.tokenizer.eos_token

    # ------------------------------------------------------------------------------------------- input checks
    @staticmethod
    def check_text(text: Any, name: str = "inputs") -> str:
        if not isinstance(text, str):
            raise TypeError(f"{name} must be a str or a list of str, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"{name} must be non-empty text (got {text!r})")
        return text

    def encode(self, text: str, min_scored: int | None = None, name: str = "inputs") -> dict[str, torch.Tensor]:
        """``input_ids``/``attention_mask`` ``[1, n]`` of ``text``; ``ValueError`` when it has too few tokens."""
        enc = self.tokenizer(self.check_text(text, name), return_tensors="pt")  # type: ignore[misc]
        need = (self.min_scored_tokens if min_scored is None else min_scored) + 1
        n = int(enc["input_ids"].shape[1])
        if n < need:
            raise ValueError(
                f"{name} encodes to {n} token(s); {type(self).__name__} needs at least {need} (its statistic scores "
                f"every token after the first and needs {need - 1} scored)"
            )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def preprocess(self, input_: Any, **preprocess_parameters: Any) -> dict[str, Any]:
        return self.encode(input_)

    # ------------------------------------------------------------------------------------------------ forward
    def stats_of(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any) -> TokenStats:
        """:func:`token_stats` of a padded batch with this detector's options."""
        return token_stats(
            self.model, input_ids=input_ids, attention_mask=attention_mask, **{**self.stats_options, **extra}
        )

    def score(self, stats: TokenStats, inputs: dict[str, Any], **params: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _forward(self, inputs: dict[str, Any], **params: Any) -> dict[str, Any]:  # type: ignore[override]
        stats = self.stats_of(inputs["input_ids"], inputs["attention_mask"])
        out = self.score(stats, inputs, **params)
        out["num_tokens"] = stats.num_scored
        return {k: v.detach().float().cpu() if k != "num_tokens" else v.cpu() for k, v in out.items()}

    @staticmethod
    def row_values(outputs: dict[str, torch.Tensor]) -> dict[str, Any]:
        """One unbatched row of ``_forward``'s output as Python numbers."""
        return {
            k: (int(v.reshape(-1)[0]) if k == "num_tokens" else float(v.reshape(-1)[0])) for k, v in outputs.items()
        }

    def _sanitize_parameters(self, baselines: Any = None, **kwargs: Any) -> tuple[dict, dict, dict]:
        """``baselines`` (bool): also return the baselines of the detector; reaches preprocess and forward."""
        if baselines is None:
            return {}, {}, {}
        if not isinstance(baselines, bool):
            raise TypeError(f"baselines must be a bool, got {type(baselines).__name__}")
        return {"baselines": baselines}, {"baselines": baselines}, {}

    def postprocess(self, model_outputs: dict[str, torch.Tensor], **postprocess_parameters: Any) -> dict[str, Any]:
        return self.row_values(model_outputs)


def detection_contract(task: str, cls: type, make_pipeline_kwargs: Any) -> dict[str, Any]:
    """The pipelines-suite contract every detector here shares: three texts, the same bad inputs (empty, blank,
    not text, too short) and ``baselines`` as the call option (a non-bool is refused)."""
    return {
        "task": task,
        "pipeline_cls": cls,
        "make_pipeline_kwargs": make_pipeline_kwargs,
        "inputs": ["The quick brown fox jumps over the lazy dog.", "Hello world!", "def main():\n    return 0"],
        "bad_inputs": ["", "   ", 123, None, "a"],
        "call_kwargs": {"baselines": True},
        "bad_call_kwargs": [{"baselines": "yes"}, {"baselines": 1}],
        "atol": 1e-5,
    }
