"""``pipeline("token-retrieval", model=encoder, documents=[...])``: multi-vector retrieval with XTR's scoring from
retrieved tokens only (Lee et al., arXiv 2304.01982) or ColBERT's MaxSim over all document tokens.

    retriever = pipeline("token-retrieval", model=encoder, tokenizer=tok, documents=chunks)
    retriever("How do I open a gzip file?", top_k=5)          # [{"index": 17, "score": 0.61}, ...]
    retriever(query, scoring="maxsim")                         # the ColBERT baseline on the same index

Deviations from the paper: the encoder is the bundled MiniLM-L6 (BERT, 384 dims, no projection layer) rather than
T5; the index is a flat matrix searched by brute force with plain torch (the paper uses ScaNN); [CLS], [SEP] and
padding are neither indexed nor used as query tokens. Training (:mod:`hf_tokens.pipelines.xtr.train`) uses in-batch
negatives only (no hard negatives), a softmax temperature (``temperature``) on the scores, and in the benchmark a few
generated question/passage pairs mixed with inverse-cloze pairs cut from the corpus (the paper trains on MS MARCO).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from transformers import AutoModel, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from hf_tokens.pipelines.xtr.index import TokenIndex, content_mask, token_embeddings

TASK = "token-retrieval"
SCORINGS = ("xtr", "maxsim")


@dataclass
class XTRConfig:
    """Settings of XTR retrieval (Lee et al., 2023) and of its training objective."""

    k_prime: int = field(default=100, metadata={"help": "tokens retrieved per query token (k' of the paper)"})
    top_k: int = field(default=10, metadata={"help": "documents returned per query"})
    scoring: str = field(default="xtr", metadata={"help": "'xtr' (retrieved tokens only) or 'maxsim' (ColBERT)"})
    max_length: int = field(default=256, metadata={"help": "tokens kept per document or query"})
    k_train: int = field(default=64, metadata={"help": "tokens each query token retrieves in a training batch"})
    temperature: float = field(default=0.05, metadata={"help": "softmax temperature of the training loss"})

    def __post_init__(self) -> None:
        for name in ("k_prime", "top_k", "max_length", "k_train"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"scoring must be one of {SCORINGS}, got {self.scoring!r}")
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TokenRetrievalPipeline(Pipeline):
    """Rank the indexed documents for each query text; returns ``[{"index", "score"}, ...]`` best first."""

    _load_tokenizer = True  # type: ignore[assignment]

    def __init__(self, *args: Any, documents: list[str] | None = None, config: XTRConfig | None = None, **kwargs: Any):
        if config is not None and not isinstance(config, XTRConfig):
            raise TypeError(f"config must be an XTRConfig, got {type(config).__name__}")
        self.config = config or XTRConfig()
        self.index: TokenIndex | None = None
        super().__init__(*args, **kwargs)
        if documents is not None:
            self.set_documents(documents)

    def set_documents(self, documents: list[str]) -> None:
        """Encode and index ``documents`` (replacing any previous index)."""
        self.model.eval()
        self.index = TokenIndex.build(self.model, self.tokenizer, documents, max_length=self.config.max_length)

    def _sanitize_parameters(
        self, top_k: int | None = None, scoring: str | None = None, k_prime: int | None = None, **kwargs: Any
    ) -> tuple[dict, dict, dict]:
        if kwargs:
            raise TypeError(f"unexpected arguments {sorted(kwargs)}; allowed: top_k, scoring, k_prime")
        base = getattr(self, "config", None) or XTRConfig()
        merged = XTRConfig(
            **{
                **base.to_dict(),
                **{k: v for k, v in {"top_k": top_k, "scoring": scoring, "k_prime": k_prime}.items() if v is not None},
            }
        )
        return {}, {}, {"top_k": merged.top_k, "scoring": merged.scoring, "k_prime": merged.k_prime}

    def preprocess(self, query: Any, **_: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        if not isinstance(query, str):
            raise TypeError(f"inputs must be a query str or a list of str, got {type(query).__name__}")
        if not query.strip():
            raise ValueError("the query is empty; give a non-empty question")
        tokenizer: Any = self.tokenizer
        enc = tokenizer(query, truncation=True, max_length=self.config.max_length, return_tensors="pt")
        if not content_mask(self.tokenizer, enc).any():
            raise ValueError(f"the query {query!r} has no token besides special tokens")
        return dict(enc)

    def _forward(self, inputs: dict[str, torch.Tensor], **_: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {"q": token_embeddings(self.model, inputs), "mask": content_mask(self.tokenizer, inputs)}

    def postprocess(  # type: ignore[override]
        self, outputs: dict[str, torch.Tensor], top_k: int = 10, scoring: str = "xtr", k_prime: int = 100
    ) -> list[dict[str, Any]]:
        if self.index is None:
            raise ValueError("no documents are indexed; pass documents=[...] to pipeline() or call set_documents")
        q = outputs["q"].reshape(-1, outputs["q"].shape[-1])[outputs["mask"].reshape(-1)]
        if scoring == "xtr":
            result = self.index.search_xtr(q, k_prime=k_prime, top_k=top_k)
        else:
            result = self.index.search_maxsim(q, top_k=top_k)
        return [{"index": i, "score": s} for i, s in zip(result.doc_ids, result.scores)]


PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=TokenRetrievalPipeline, pt_model=AutoModel)


def _tiny_encoder() -> dict[str, Any]:
    from transformers import BertConfig, BertModel

    from hf_tokens.assets import load_tokenizer

    tokenizer = load_tokenizer("minilm-l6")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    documents = [
        "The gzip module compresses and decompresses files.",
        "Sockets connect processes over a network; a server listens on a port.",
        "JSON encodes Python objects as text.",
    ]
    return {"model": BertModel(config).eval(), "tokenizer": tokenizer, "documents": documents}


def contract() -> dict[str, Any]:
    """The pipelines contract (tests/suites/README.md)."""
    return {
        "task": TASK,
        "pipeline_cls": TokenRetrievalPipeline,
        "make_pipeline_kwargs": _tiny_encoder,
        "inputs": ["How do I compress a file?", "network server port", "What does the json module do with objects?"],
        "bad_inputs": ["", "   ", 123, None],
        "call_kwargs": {"top_k": 2, "k_prime": 8},
        "bad_call_kwargs": [{"top_k": 0}, {"scoring": "bm25"}, {"k_prime": -1}],
        "atol": 1e-5,
    }
