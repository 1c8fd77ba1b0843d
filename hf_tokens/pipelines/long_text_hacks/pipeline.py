"""``pipeline("long-text-classification", model=classifier, tokenizer=tok)``: shorten a long document with the
long-text hacks of Mutasodirin et al. (arXiv 2403.12563), then classify it with any ``*ForSequenceClassification``.

    clf = pipeline("long-text-classification", model=classifier, tokenizer=tok, max_length=256,
                   shortening=LongTextHacksConfig(removals=("stopwords",)))
    clf(man_page)   # {"label": "section 2", "score": 0.91, "shortened_text": "...", "tokens": 256}

:func:`attach_shortening` stores the shortening and length in the classifier's config, so a saved classifier
(``save_pretrained``) brings them back: the pipeline uses them when none is passed.

The shortened text fits ``max_length`` tokens of the pipeline's tokenizer with its special tokens, so nothing is cut
by the model's own truncation. ``counts`` (``word_counts`` of the training split) is needed by the ``rare``
transform. See :mod:`hf_tokens.pipelines.long_text_hacks.transforms` for the transforms and their deviations from
the paper, :func:`~hf_tokens.pipelines.long_text_hacks.search.search_shortening` for choosing one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from hf_tokens.pipelines.long_text_hacks.search import LongTextHacksConfig
from hf_tokens.pipelines.long_text_hacks.transforms import check_text

TASK = "long-text-classification"
CONFIG_KEY = "long_text_hacks"


def attach_shortening(model: Any, shortening: LongTextHacksConfig, max_length: int) -> Any:
    """Record ``shortening`` and ``max_length`` in ``model.config`` (saved with it); returns the model."""
    shortening = _check_shortening(shortening)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length must be an int >= 2 (tokens with special tokens), got {max_length!r}")
    setattr(model.config, CONFIG_KEY, {"shortening": shortening.to_dict(), "max_length": max_length})
    return model


def _check_shortening(shortening: Any) -> LongTextHacksConfig:
    if isinstance(shortening, dict):
        return LongTextHacksConfig.from_dict(shortening)
    if not isinstance(shortening, LongTextHacksConfig):
        raise TypeError(f"shortening must be a LongTextHacksConfig (or its dict), got {type(shortening).__name__}")
    return shortening


class LongTextClassificationPipeline(Pipeline):
    """Shorten each document to ``max_length`` tokens, classify it; returns ``{"label", "score",
    "shortened_text", "tokens"}``."""

    _load_tokenizer = True  # type: ignore[assignment]

    def __init__(
        self,
        *args: Any,
        shortening: LongTextHacksConfig | dict[str, Any] | None = None,
        max_length: int | None = None,
        counts: Counter[str] | None = None,
        **kwargs: Any,
    ):
        if counts is not None and not isinstance(counts, Counter):
            raise TypeError(f"counts must be a Counter (word_counts of the train split), got {type(counts).__name__}")
        self.counts = counts
        super().__init__(*args, **kwargs)
        if "ForSequenceClassification" not in type(self.model).__name__:
            raise TypeError(f"model must be a *ForSequenceClassification, got {type(self.model).__name__}")
        stored = getattr(self.model.config, CONFIG_KEY, None) or {}  # from attach_shortening
        shortening = shortening if shortening is not None else stored.get("shortening")
        self.shortening = _check_shortening(shortening) if shortening is not None else LongTextHacksConfig()
        limit = getattr(self.model.config, "max_position_embeddings", None) or 512
        max_length = max_length if max_length is not None else stored.get("max_length", min(512, limit))
        self.max_length = self._check_length(max_length)

    @property
    def _tok(self) -> Any:
        return self.tokenizer

    def _check_length(self, max_length: Any) -> int:
        specials = self._tok.num_special_tokens_to_add(pair=False)
        limit = getattr(self.model.config, "max_position_embeddings", None) or 10**9
        if isinstance(max_length, bool) or not isinstance(max_length, int):
            raise TypeError(f"max_length must be an int (tokens with special tokens), got {max_length!r}")
        if not specials < max_length <= limit:
            raise ValueError(
                f"max_length must be in ({specials}, {limit}] (tokens with the {specials} special tokens, at most "
                f"the model's positions), got {max_length}"
            )
        return max_length

    def _sanitize_parameters(
        self, max_length: int | None = None, shortening: Any = None, **kwargs: Any
    ) -> tuple[dict, dict, dict]:
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; allowed: max_length, shortening")
        pre: dict[str, Any] = {}
        if max_length is not None:
            pre["max_length"] = self._check_length(max_length)
        if shortening is not None:
            pre["shortening"] = _check_shortening(shortening)
        config = pre.get("shortening", getattr(self, "shortening", None))
        if config is not None and "rare" in config.removals and getattr(self, "counts", None) is None:
            raise ValueError(
                "the 'rare' transform needs counts=word_counts(training texts) when building the pipeline"
            )
        return pre, {}, {}

    def preprocess(  # type: ignore[override]
        self, text: Any, max_length: int | None = None, shortening: LongTextHacksConfig | None = None
    ) -> dict[str, Any]:
        check_text(text, "inputs")
        length = max_length or self.max_length
        config = shortening or self.shortening
        budget = length - self._tok.num_special_tokens_to_add(pair=False)
        short = config.shorten(text, self.tokenizer, budget, counts=self.counts)
        enc = self._tok(short, truncation=True, max_length=length, return_tensors="pt")
        return {**enc, "shortened_text": short}

    def _forward(self, inputs: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        text = inputs.pop("shortened_text")
        tokens = inputs["attention_mask"].sum(-1)
        logits = self.model(**inputs).logits.float()
        return {"logits": logits, "tokens": tokens, "shortened_text": text}

    def postprocess(self, outputs: dict[str, Any]) -> dict[str, Any]:  # type: ignore[override]
        probs = outputs["logits"].reshape(-1).softmax(-1)
        best = int(probs.argmax())
        labels: Any = self.model.config.id2label or {}
        text = outputs["shortened_text"]
        return {
            "label": labels.get(best, f"LABEL_{best}"),
            "score": float(probs[best]),
            "shortened_text": text[0] if isinstance(text, list) else text,
            "tokens": int(torch.as_tensor(outputs["tokens"]).reshape(-1)[0]),
        }


PIPELINE_REGISTRY.register_pipeline(
    TASK, pipeline_class=LongTextClassificationPipeline, pt_model=AutoModelForSequenceClassification
)


def tiny_classifier(num_labels: int = 3, seed: int = 0) -> tuple[Any, Any]:
    """A seeded BERT sequence classifier (hidden 32, 2 layers) with the bundled MiniLM tokenizer, for tests."""
    from hf_tokens.testing import tiny_encoder

    return tiny_encoder("sequence", num_labels=num_labels, seed=seed, max_position_embeddings=128)


def _tiny_kwargs() -> dict[str, Any]:
    model, tokenizer = tiny_classifier()
    return {"model": model, "tokenizer": tokenizer, "max_length": 24}


DOCUMENTS = [
    "The open() system call opens the file specified by pathname. If the specified file does not exist, it may "
    "optionally be created by open(). The return value of open() is a file descriptor, a small, nonnegative "
    "integer that is an index to an entry in the process's table of open file descriptors.",
    "apt-get is the command-line tool for handling packages; it installs, upgrades and removes them.",
]


def contract() -> dict[str, Any]:
    """The pipelines contract (tests/suites/README.md)."""
    return {
        "task": TASK,
        "pipeline_cls": LongTextClassificationPipeline,
        "make_pipeline_kwargs": _tiny_kwargs,
        "inputs": DOCUMENTS,
        "bad_inputs": ["", "  \n ", 42, None],
        "call_kwargs": {"max_length": 16, "shortening": LongTextHacksConfig(("stopwords",), "head+tail", 0.5)},
        "bad_call_kwargs": [
            {"max_length": 0},
            {"max_length": 2},
            {"max_length": 10_000},
            {"shortening": "stopwords"},
            {"shortening": {"removals": ["emoji"]}},
            {"temperature": 1.0},
        ],
        "atol": 1e-5,
    }
