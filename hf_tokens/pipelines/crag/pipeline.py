"""``pipeline("clustered-rag", model=llm, encoder=minilm)``: CRAG's clustered summaries of retrieved passages
(Akesson and Santos, arXiv 2406.00029); see :mod:`hf_tokens.pipelines.crag.cluster` for the method and deviations.

    crag = pipeline("clustered-rag", model=llm, tokenizer=tok, encoder=enc, encoder_tokenizer=enc_tok)
    out = crag({"passages": retrieved, "question": q})
    out["context"], out["clusters"], out["original_tokens"], out["compressed_tokens"]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from transformers import AutoModelForCausalLM, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from hf_tokens.pipelines.crag.cluster import crag_context

TASK = "clustered-rag"


@dataclass
class CRAGConfig:
    """Settings of CRAG (Akesson and Santos, 2024)."""

    n_clusters: int | None = field(
        default=None, metadata={"help": "clusters per query; None: ceil(sqrt(number of passages))"}
    )
    summary_tokens: int = field(default=64, metadata={"help": "token budget of each cluster's summary"})
    seed: int = field(default=0, metadata={"help": "seed of the k-means++ initialisation"})

    def __post_init__(self) -> None:
        k = self.n_clusters
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"n_clusters must be an int >= 1 or None, got {k!r}")
        if (
            isinstance(self.summary_tokens, bool)
            or not isinstance(self.summary_tokens, int)
            or self.summary_tokens < 1
        ):
            raise ValueError(f"summary_tokens must be an int >= 1, got {self.summary_tokens!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an int, got {type(self.seed).__name__}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_input(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict) or "passages" not in item:
        raise TypeError("inputs must be a dict {'passages': [str, ...], 'question': str (optional)} or a list of them")
    question = item.get("question")
    if question is not None and not isinstance(question, str):
        raise TypeError(f"'question' must be a str, got {type(question).__name__}")
    return {"passages": item["passages"], "question": question}


class ClusteredRAGPipeline(Pipeline):
    """Cluster, summarise per cluster, and return the summaries as the reader's context."""

    _load_tokenizer = True  # type: ignore[assignment]

    def __init__(
        self,
        *args: Any,
        encoder: Any = None,
        encoder_tokenizer: Any = None,
        config: CRAGConfig | None = None,
        **kw: Any,
    ):
        if config is not None and not isinstance(config, CRAGConfig):
            raise TypeError(f"config must be a CRAGConfig, got {type(config).__name__}")
        if encoder is None or encoder_tokenizer is None:
            raise ValueError(
                "clustered-rag needs encoder=<sentence encoder> and encoder_tokenizer= to cluster passages"
            )
        self.config = config or CRAGConfig()
        self.encoder, self.encoder_tokenizer = encoder, encoder_tokenizer
        super().__init__(*args, **kw)

    def _sanitize_parameters(self, **kwargs: Any) -> tuple[dict, dict, dict]:
        allowed = set(CRAGConfig.__dataclass_fields__)
        if set(kwargs) - allowed:
            raise TypeError(f"unexpected arguments {sorted(set(kwargs) - allowed)}; allowed: {sorted(allowed)}")
        base = getattr(self, "config", None) or CRAGConfig()
        return {}, {"config": CRAGConfig(**{**base.to_dict(), **kwargs})}, {}

    def preprocess(self, item: Any, **_: Any) -> dict[str, Any]:  # type: ignore[override]
        return {"items": [_check_input(item)]}

    def _forward(self, inputs: dict[str, Any], config: CRAGConfig | None = None) -> dict[str, Any]:  # type: ignore[override]
        config = config or self.config
        items = [i for group in inputs["items"] for i in (group if isinstance(group, list) else [group])]
        results = []
        for item in items:
            r = crag_context(
                item["passages"],
                model=self.model,
                tokenizer=self.tokenizer,
                encoder=self.encoder,
                encoder_tokenizer=self.encoder_tokenizer,
                question=item["question"],
                **config.to_dict(),
            )
            results.append(asdict(r))
        return {"results": results}

    def postprocess(self, outputs: dict[str, Any], **_: Any) -> dict[str, Any]:  # type: ignore[override]
        result = outputs["results"]
        return result[0] if isinstance(result, list) else result


PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=ClusteredRAGPipeline, pt_model=AutoModelForCausalLM)

PASSAGES = [
    "The gzip module compresses files in the GNU zip format.",
    "zlib offers compression compatible with gzip.",
    "A socket server binds an address and listens on a port.",
    "Clients connect to a server socket over the network.",
    "JSON encodes Python objects as text.",
]


def contract() -> dict[str, Any]:
    """The pipelines contract (tests/suites/README.md)."""
    from hf_tokens.pipelines.tcra.pipeline import tiny_models

    return {
        "task": TASK,
        "pipeline_cls": ClusteredRAGPipeline,
        "make_pipeline_kwargs": tiny_models,
        "inputs": [{"passages": PASSAGES, "question": "How do I compress a file?"}, {"passages": PASSAGES[:3]}],
        "bad_inputs": ["text", None, {"passages": []}, {"passages": ["ok", ""]}, {"passages": "one string"}],
        "call_kwargs": {"summary_tokens": 8},
        "bad_call_kwargs": [{"summary_tokens": 0}, {"n_clusters": 0}, {"rate": 0.5}],
        "atol": 1e-6,
    }
