"""``pipeline("prompt-compression", model=classifier, tokenizer=tok)``: LLMLingua-2 prompt compression (Pan et al.,
arXiv 2403.12968) as token classification with a bidirectional encoder.

    compressor = pipeline("prompt-compression", model=classifier, tokenizer=tokenizer)
    compressor(context, rate=0.33, force_tokens=["?", "\\n"])  # {"compressed_prompt": ..., "rate": 0.33, ...}

The classifier is a ``*ForTokenClassification`` model with 2 labels (0 drop, 1 keep), trained by
:mod:`hf_tokens.pipelines.llmlingua2.train` on the paper's data distillation.

Deviations from the paper: the encoder is the bundled MiniLM-L6 (the paper uses XLM-RoBERTa-large or mBERT); a word
is scored by its first subword (the official code averages the subwords' probabilities); the rate counts whitespace
words, not LLM tokens, and is met exactly by a global top-k over all chunks (the official tool thresholds per
chunk, so its achieved rate drifts); kept words are joined with single spaces (line breaks are not kept unless
forced words carry them); a word is forced when it contains any of ``force_tokens``, and forced words count towards
the budget (when they alone exceed it, all of them are kept and the achieved rate is above the requested one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from transformers import AutoModelForTokenClassification, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from hf_tokens.pipelines.llmlingua2.compress import check_rate, compress_words, keep_probabilities, split_words

TASK = "prompt-compression"


@dataclass
class LLMLingua2Config:
    """Settings of LLMLingua-2 compression."""

    rate: float = field(default=0.5, metadata={"help": "fraction of the input's words kept, in (0, 1]"})
    max_length: int = field(default=512, metadata={"help": "encoder window in tokens; longer inputs are chunked"})
    force_tokens: tuple[str, ...] = field(
        default=(), metadata={"help": "strings whose words are always kept (a word containing one is kept)"}
    )

    def __post_init__(self) -> None:
        self.rate = check_rate(self.rate)
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 3:
            raise ValueError(f"max_length must be an int >= 3, got {self.max_length!r}")
        if isinstance(self.force_tokens, str) or not all(isinstance(t, str) and t for t in self.force_tokens):
            raise TypeError(f"force_tokens must be a list of non-empty str, got {self.force_tokens!r}")
        self.force_tokens = tuple(self.force_tokens)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PromptCompressionPipeline(Pipeline):
    """Compress each context text; returns ``{"compressed_prompt", "kept_indices", "n_words", "n_kept", "rate"}``."""

    _load_tokenizer = True  # type: ignore[assignment]

    def __init__(self, *args: Any, config: LLMLingua2Config | None = None, **kwargs: Any):
        if config is not None and not isinstance(config, LLMLingua2Config):
            raise TypeError(f"config must be an LLMLingua2Config, got {type(config).__name__}")
        self.config = config or LLMLingua2Config()
        super().__init__(*args, **kwargs)
        labels = getattr(self.model.config, "num_labels", None)
        if labels != 2:
            raise ValueError(f"the model must be a token classifier with 2 labels (drop, keep), it has {labels}")

    def _sanitize_parameters(
        self, rate: float | None = None, force_tokens: Any = None, max_length: int | None = None, **kwargs: Any
    ) -> tuple[dict, dict, dict]:
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; allowed: rate, force_tokens, max_length")
        base = getattr(self, "config", None) or LLMLingua2Config()
        given = {"rate": rate, "force_tokens": force_tokens, "max_length": max_length}
        merged = LLMLingua2Config(**{**base.to_dict(), **{k: v for k, v in given.items() if v is not None}})
        return {}, {"max_length": merged.max_length}, {"rate": merged.rate, "force_tokens": merged.force_tokens}

    def preprocess(self, text: Any, **_: Any) -> dict[str, Any]:  # type: ignore[override]
        if not isinstance(text, str):
            raise TypeError(f"inputs must be a context str or a list of str, got {type(text).__name__}")
        words = split_words(text)
        if not words:
            raise ValueError("the text is empty; give a context with at least one word")
        return {"words": words}

    def _forward(self, inputs: dict[str, Any], max_length: int = 512) -> dict[str, Any]:  # type: ignore[override]
        self.model.eval()
        words = inputs["words"]
        if words and isinstance(words[0], list):  # a collated batch (batch_size > 1): one list of words per text
            probs = [keep_probabilities(self.model, self.tokenizer, w, max_length) for w in words]
            return {"words": words, "probs": probs}
        return {"words": words, "probs": keep_probabilities(self.model, self.tokenizer, words, max_length)}

    def postprocess(  # type: ignore[override]
        self, outputs: dict[str, Any], rate: float = 0.5, force_tokens: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        return compress_words(outputs["words"], outputs["probs"].reshape(-1), rate, force_tokens)


PIPELINE_REGISTRY.register_pipeline(
    TASK, pipeline_class=PromptCompressionPipeline, pt_model=AutoModelForTokenClassification
)


def tiny_classifier(seed: int = 0) -> tuple[Any, Any]:
    """A seeded 2-label BERT token classifier (hidden 32) with the bundled MiniLM tokenizer, for tests and demos."""
    from hf_tokens.testing import tiny_encoder

    return tiny_encoder("token", num_labels=2, seed=seed)


def _tiny_kwargs() -> dict[str, Any]:
    model, tokenizer = tiny_classifier()
    return {"model": model, "tokenizer": tokenizer}


def contract() -> dict[str, Any]:
    """The pipelines contract (tests/suites/README.md)."""
    return {
        "task": TASK,
        "pipeline_cls": PromptCompressionPipeline,
        "make_pipeline_kwargs": _tiny_kwargs,
        "inputs": [
            "The gzip module compresses and decompresses files in the gzip format used by the GNU program.",
            "Sockets connect processes over a network.",
            "JSON encodes Python objects as text, and json.loads decodes them again into dicts and lists.",
        ],
        "bad_inputs": ["", "   \n", 123, None],
        "call_kwargs": {"rate": 0.5},
        "bad_call_kwargs": [{"rate": 0}, {"rate": 1.5}, {"rate": "half"}, {"force_tokens": "?"}, {"max_length": 2}],
        "atol": 1e-6,
    }
