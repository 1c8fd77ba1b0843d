"""Configuration of the TokenAdapt initialiser."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ENCODERS = ("minilm-l6",)


@dataclass
class TokenAdaptConfig:
    """TokenAdapt (Sharthak et al., 2025, arXiv:2505.09738): hybrid local + global initialisation of new tokens.

    Defaults are those of the authors' released code (``Tinycompany-AI/tokenadapt``, ``src/transplant.py``):
    ``top_k=3``, ``temperature=0.3``, ``global_weight=0.3`` (so the local estimate gets 0.7), similarity
    threshold 0.0. The auxiliary embedding model differs: the paper uses a large multilingual embedder
    (nomic-embed-text-v2-moe by default); here the bundled all-MiniLM-L6-v2 encoder.
    """

    top_k: int = field(default=3, metadata={"help": "global estimate: number of most similar old tokens (paper: 3)"})
    temperature: float = field(
        default=0.3, metadata={"help": "softmax temperature of both heuristics' similarity weights (paper: 0.3)"}
    )
    global_weight: float = field(
        default=0.3,
        metadata={"help": "weight w of the global estimate; the local one gets 1 - w (paper: 0.3); 0 = local only"},
    )
    similarity_threshold: float = field(
        default=0.0,
        metadata={"help": "global neighbours with cosine similarity below this are dropped (paper code: 0.0)"},
    )
    encoder: str = field(
        default="minilm-l6", metadata={"help": f"auxiliary embedding model for token strings, one of {ENCODERS}"}
    )
    batch_size: int = field(default=256, metadata={"help": "token strings per auxiliary-encoder batch"})
    cache: bool = field(
        default=True,
        metadata={"help": "cache auxiliary embeddings of vocabularies on disk under hf_tokens.assets.cache_root()"},
    )
    max_aux_tokens: int | None = field(
        default=None,
        metadata={
            "help": "embed at most this many new tokens with the auxiliary model (lowest ids first, i.e. the "
            "earliest BPE merges, plus the initializer's `priority_ids`); the rest get a local estimate with uniform "
            "semantic weights "
            "and no global estimate. None = every new token, as in the paper. For quick experiments only."
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of the random fallback for tokens no heuristic covers"})

    def __post_init__(self) -> None:
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"top_k must be an int >= 1, got {self.top_k!r}")
        if not isinstance(self.temperature, (int, float)) or not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not isinstance(self.global_weight, (int, float)) or not 0.0 <= self.global_weight <= 1.0:
            raise ValueError(f"global_weight must be in [0, 1], got {self.global_weight!r}")
        if not isinstance(self.similarity_threshold, (int, float)) or not -1.0 <= self.similarity_threshold <= 1.0:
            raise ValueError(f"similarity_threshold must be in [-1, 1], got {self.similarity_threshold!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {self.batch_size!r}")
        if self.max_aux_tokens is not None and (not isinstance(self.max_aux_tokens, int) or self.max_aux_tokens < 0):
            raise ValueError(f"max_aux_tokens must be None or an int >= 0, got {self.max_aux_tokens!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
