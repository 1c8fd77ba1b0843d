"""Settings of landmark attention (Mohtashami & Jaggi, arXiv 2305.16300), stored as ``landmark_*`` config attributes.

The attention function reads them from ``module.config`` at every call, so they travel with ``save_pretrained`` and
one switch (turning block retrieval on for inference) needs no reload::

    LandmarkAttentionConfig(block_size=31, top_k=2).apply(model.config)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hf_tokens.attention.common import ModelConfigSettings

IMPLS = ("reference", "triton")


@dataclass
class LandmarkAttentionConfig(ModelConfigSettings):
    """Landmark attention: after every ``block_size`` regular tokens a landmark token closes the block, so the
    layout has a period of ``block_size + 1`` positions, the last of which is the landmark. A query attends to the
    tokens of its own block directly and to an earlier block through the block's landmark (grouped softmax); with
    ``top_k > 0`` it only sees the ``top_k`` earlier blocks whose landmarks score highest for it (per head)."""

    PREFIX: ClassVar[str] = "landmark_"

    block_size: int = field(
        default=50, metadata={"help": "regular tokens per block (the paper: 50); a landmark follows each block"}
    )
    top_k: int = field(
        default=0,
        metadata={
            "help": "retrieve only this many earlier blocks per query and head (the paper: 4, LLaMA 7B: 5); 0: all"
        },
    )
    impl: str = field(
        default="reference", metadata={"help": f"kernel, one of {IMPLS} (triton: forward only, top_k=0 only)"}
    )

    def __post_init__(self) -> None:
        for name in ("block_size", "top_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if self.block_size < 1:
            raise ValueError(f"block_size must be >= 1 (regular tokens per block), got {self.block_size}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = attend to every block), got {self.top_k}")
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {self.impl!r}")

    @property
    def period(self) -> int:
        """Positions per block including its landmark: ``block_size + 1``."""
        return self.block_size + 1
