"""``pipeline("pawn-llm-text-detection", model=lm, tokenizer=tok, head=pawn_head)``: PAWN's score per text.

The base LM gives the per-token features and last hidden states in one :func:`token_stats` forward; the trained
:class:`~.head.PawnHead` turns them into a logit. Output: ``score`` (the logit, higher = machine), ``probability``
(its sigmoid), ``machine`` (``probability >= 0.5``) and ``num_tokens``; with ``baselines=True`` also the mean
log-likelihood and entropy of the same forward (the zero-shot quantities PAWN re-weights). Its own task name: the
task ``llm-text-detection`` belongs to the zero-shot test.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForCausalLM
from transformers.pipelines import PIPELINE_REGISTRY

from hf_tokens.analysis.lm_head import LMHead
from hf_tokens.analysis.token_stats_result import TokenStats
from hf_tokens.pipelines.detection_base import TokenStatsPipeline, detection_contract
from hf_tokens.pipelines.pawn.features import from_stats
from hf_tokens.pipelines.pawn.head import PawnHead
from hf_tokens.pipelines.pawn.train import collate

TASK = "pawn-llm-text-detection"


class PawnPipeline(TokenStatsPipeline):
    """PAWN detector (see the module docstring)."""

    stats_options = {"logp_std": True, "topk": 1, "hidden_states": True}

    def __init__(self, *args: Any, head: PawnHead | None = None, **kwargs: Any) -> None:
        if not isinstance(head, PawnHead):
            raise TypeError(
                f"head must be a trained PawnHead (PawnHead.from_pretrained(path)), got {type(head).__name__}"
            )
        super().__init__(*args, **kwargs)
        hidden = LMHead.of(self.model).weight.shape[1]
        if hidden != head.config.hidden_size:
            raise ValueError(
                f"head was trained for a base model with hidden size {head.config.hidden_size} "
                f"(base_model={head.config.base_model!r}); this model's is {hidden}"
            )
        self.head = head.eval()

    def score(self, stats: TokenStats, inputs: dict[str, Any], **params: Any) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            batch = {k: v.to(self.head.device) for k, v in collate(from_stats(stats)).items()}
            logit = self.head(**batch)["logits"]
        out = {"score": logit, "probability": torch.sigmoid(logit)}
        if params.get("baselines", False):
            out.update(log_likelihood=stats.mean("logp"), entropy=stats.mean("entropy"))
        return out

    def postprocess(self, model_outputs: dict[str, torch.Tensor], **postprocess_parameters: Any) -> dict[str, Any]:
        row = self.row_values(model_outputs)
        return {**row, "machine": row["probability"] >= 0.5}


PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=PawnPipeline, pt_model=AutoModelForCausalLM)


def contract() -> dict[str, Any]:
    def make_pipeline_kwargs() -> dict[str, Any]:
        from hf_tokens.pipelines.pawn.head import PawnHeadConfig
        from hf_tokens.testing import tiny_model, tiny_tokenizer

        tok = tiny_tokenizer()
        torch.manual_seed(0)
        model = tiny_model("llama", vocab_size=len(tok))
        head = PawnHead(PawnHeadConfig(hidden_size=model.config.hidden_size, dropout=0.0))
        return {"model": model, "tokenizer": tok, "head": head}

    return detection_contract(TASK, PawnPipeline, make_pipeline_kwargs)
