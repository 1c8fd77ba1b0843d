"""``pipeline("context-compression", model=llm, encoder=minilm)``: TCRA-LLM's token compression of retrieved context
(Liu et al., arXiv 2310.15556): summarisation, semantic compression, or both composed.

    compressor = pipeline("context-compression", model=llm, tokenizer=tok, encoder=enc, encoder_tokenizer=enc_tok)
    compressor({"context": retrieved, "question": q}, rate=0.5, mode="both")
    # {"compressed_text": ..., "original_tokens": 612, "compressed_tokens": 301, "rate": 0.49}

Budgets are in tokens of the pipeline's tokenizer (the reader's, when the LLM reads its own summaries).
See :mod:`hf_tokens.pipelines.tcra.compress` for the algorithms and their deviations from the paper.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from transformers import AutoModelForCausalLM, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from hf_tokens.pipelines.tcra.compress import (
    budget_of,
    check_context,
    check_rate,
    count_tokens,
    semantic_compress,
    summarize_to_budget,
)

TASK = "context-compression"
MODES = ("summarize", "semantic", "both")


@dataclass
class TCRAConfig:
    """Settings of TCRA-LLM compression (Liu et al., 2023)."""

    rate: float = field(default=0.5, metadata={"help": "fraction of the context's tokens kept, in (0, 1]; 0.5 is 2x"})
    mode: str = field(
        default="summarize", metadata={"help": "'summarize', 'semantic' or 'both' (summary, then words)"}
    )
    semantic_keep: float = field(
        default=0.8, metadata={"help": "in 'both', the fraction of the summary's tokens semantic compression keeps"}
    )
    rounds: int = field(default=2, metadata={"help": "batched rounds of word removal (semantic compression)"})
    window_words: int = field(
        default=48, metadata={"help": "words per window whose embedding a deletion is scored on"}
    )

    def __post_init__(self) -> None:
        check_rate(self.rate)
        check_rate(self.semantic_keep, "semantic_keep")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"rounds must be an int >= 1, got {self.rounds!r}")
        if isinstance(self.window_words, bool) or not isinstance(self.window_words, int) or self.window_words < 2:
            raise ValueError(f"window_words must be an int >= 2, got {self.window_words!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def tcra_compress(
    context: str,
    config: TCRAConfig,
    *,
    tokenizer: Any,
    model: Any = None,
    encoder: Any = None,
    encoder_tokenizer: Any = None,
    question: str | None = None,
) -> str:
    """Compress ``context`` to ``ceil(config.rate * tokens)`` tokens of ``tokenizer`` (the LLM's) with the
    configured mode; the semantic modes need ``encoder``/``encoder_tokenizer``, the summary modes ``model``."""
    check_context(context)
    budget = budget_of(tokenizer, context, config.rate)
    if config.mode in ("summarize", "both") and model is None:
        raise ValueError(f"mode {config.mode!r} needs a summariser: pass model=<causal LM>")
    if config.mode in ("semantic", "both") and (encoder is None or encoder_tokenizer is None):
        raise ValueError(f"mode {config.mode!r} needs encoder=<sentence encoder> and encoder_tokenizer=")
    semantic = dict(count_tokenizer=tokenizer, rounds=config.rounds, window_words=config.window_words)
    if config.mode == "semantic":
        return semantic_compress(encoder, encoder_tokenizer, context, budget, **semantic)
    if config.mode == "summarize":
        return summarize_to_budget(model, tokenizer, context, budget, question=question)
    first = max(1, math.ceil(budget / config.semantic_keep))
    summary = summarize_to_budget(model, tokenizer, context, first, question=question)
    if not summary.strip():
        return summary
    second = min(budget, max(1, math.ceil(config.semantic_keep * count_tokens(tokenizer, summary))))
    return semantic_compress(encoder, encoder_tokenizer, summary, second, **semantic)


def _check_input(item: Any) -> tuple[str, str | None]:
    if isinstance(item, str):
        return check_context(item, "inputs"), None
    if isinstance(item, dict):
        if "context" not in item:
            raise ValueError("an input dict needs a 'context' key (and optionally 'question')")
        question = item.get("question")
        if question is not None and not isinstance(question, str):
            raise TypeError(f"'question' must be a str, got {type(question).__name__}")
        return check_context(item["context"], "inputs['context']"), question
    raise TypeError(f"inputs must be a context str or a dict with 'context', got {type(item).__name__}")


class ContextCompressionPipeline(Pipeline):
    """Compress retrieved context to a token budget; returns ``compressed_text`` and the token counts."""

    _load_tokenizer = True  # type: ignore[assignment]

    def __init__(
        self,
        *args: Any,
        encoder: Any = None,
        encoder_tokenizer: Any = None,
        config: TCRAConfig | None = None,
        **kwargs: Any,
    ):
        if config is not None and not isinstance(config, TCRAConfig):
            raise TypeError(f"config must be a TCRAConfig, got {type(config).__name__}")
        self.config = config or TCRAConfig()
        self.encoder, self.encoder_tokenizer = encoder, encoder_tokenizer
        super().__init__(*args, **kwargs)

    def _sanitize_parameters(
        self, rate: float | None = None, mode: str | None = None, **kwargs: Any
    ) -> tuple[dict, dict, dict]:
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; allowed: rate, mode")
        base = getattr(self, "config", None) or TCRAConfig()
        given = {k: v for k, v in {"rate": rate, "mode": mode}.items() if v is not None}
        return {}, {"config": TCRAConfig(**{**base.to_dict(), **given})}, {}

    def preprocess(self, item: Any, **_: Any) -> dict[str, Any]:  # type: ignore[override]
        context, question = _check_input(item)
        return {"context": [context], "question": [question]}

    @staticmethod
    def _flat(values: list[Any]) -> list[Any]:
        return [v for group in values for v in (group if isinstance(group, list) else [group])]

    def _forward(self, inputs: dict[str, Any], config: TCRAConfig | None = None) -> dict[str, Any]:  # type: ignore[override]
        config = config or self.config
        texts, counts = [], []
        for context, question in zip(self._flat(inputs["context"]), self._flat(inputs["question"])):
            out = tcra_compress(
                context,
                config,
                tokenizer=self.tokenizer,
                model=self.model if config.mode != "semantic" else None,
                encoder=self.encoder,
                encoder_tokenizer=self.encoder_tokenizer,
                question=question,
            )
            texts.append(out)
            counts.append([count_tokens(self.tokenizer, context), count_tokens(self.tokenizer, out)])
        return {"compressed_text": texts, "counts": torch.tensor(counts)}

    def postprocess(self, outputs: dict[str, Any], **_: Any) -> dict[str, Any]:  # type: ignore[override]
        text = outputs["compressed_text"]
        original, compressed = (int(v) for v in outputs["counts"].reshape(-1, 2)[0])
        return {
            "compressed_text": text[0] if isinstance(text, list) else text,
            "original_tokens": original,
            "compressed_tokens": compressed,
            "rate": compressed / original,
        }


PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=ContextCompressionPipeline, pt_model=AutoModelForCausalLM)


def tiny_models() -> dict[str, Any]:
    """A seeded tiny Llama summariser and tiny BERT encoder with the real SmolLM2 / MiniLM tokenizers."""
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    from hf_tokens.assets import load_tokenizer

    tokenizer, enc_tok = load_tokenizer("smollm2"), load_tokenizer("minilm-l6")
    torch.manual_seed(0)
    llm = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    ).eval()
    torch.manual_seed(1)
    encoder = BertModel(
        BertConfig(
            vocab_size=len(enc_tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
        )
    ).eval()
    return {"model": llm, "tokenizer": tokenizer, "encoder": encoder, "encoder_tokenizer": enc_tok}


CONTEXTS = [
    "The gzip module compresses and decompresses files in the GNU zip format. It offers open, compress and "
    "decompress, and the GzipFile class reads and writes gzip files like ordinary file objects.",
    "Sockets connect processes over a network; a server binds an address, listens on a port and accepts "
    "connections, while a client connects to that address.",
]


def contract() -> dict[str, Any]:
    """The pipelines contract (tests/suites/README.md)."""
    return {
        "task": TASK,
        "pipeline_cls": ContextCompressionPipeline,
        "make_pipeline_kwargs": tiny_models,
        "inputs": [CONTEXTS[0], {"context": CONTEXTS[1], "question": "What does a server do?"}],
        "bad_inputs": ["", "   ", 123, None, {"question": "no context"}, {"context": "x", "question": 5}],
        "call_kwargs": {"rate": 0.5, "mode": "both"},
        "bad_call_kwargs": [{"rate": 0}, {"rate": 1.5}, {"mode": "drop"}, {"temperature": 1.0}],
        "atol": 1e-6,
    }
